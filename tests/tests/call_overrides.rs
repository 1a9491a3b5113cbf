//! State overrides (geth's third `eth_call` argument) on a real `kalgo --dev`:
//! code, storage (`state` and `stateDiff`), balance and nonce of any address are
//! replaced for one call, in `eth_call`, `eth_estimateGas`, `eth_createAccessList`
//! and `debug_traceCall`; nothing is written.

use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Development account #0, funded by `--dev`.
const ADDR0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// An address with no code on the dev chain.
const TARGET: &str = "0x00000000000000000000000000000000000c0de0";
/// Returns slot 0.
const RETURN_SLOT0: &str = "0x60005460005260206000f3";
/// Returns its own balance (SELFBALANCE).
const RETURN_BALANCE: &str = "0x4760005260206000f3";
/// Stores 1 in slot 5.
const STORE: &str = "0x600160055500";

fn word(n: u64) -> String {
    format!("0x{n:064x}")
}

fn call(node: &DevNode, method: &str, params: Value) -> Value {
    node.call(method, &params.to_string()).expect("HTTP call")
}

#[test]
fn overrides_apply_to_one_call_only() {
    let node = DevNode::start("latest", 300, &["--http.api", "eth,net,web3,debug"]);
    let to = json!({"to": TARGET});

    // Code plus one slot (stateDiff) and code plus the whole storage (state).
    let v = call(
        &node,
        "eth_call",
        json!([to, "latest", {TARGET: {"code": RETURN_SLOT0, "stateDiff": {word(0): word(42)}}}]),
    );
    assert_eq!(v["result"], json!(word(42)), "{v}");
    let v = call(
        &node,
        "eth_call",
        json!([to, "latest", {TARGET: {"code": RETURN_SLOT0, "state": {word(1): word(7)}}}]),
    );
    assert_eq!(v["result"], json!(word(0)), "{v}");
    // Balance.
    let v = call(
        &node,
        "eth_call",
        json!([to, "latest", {TARGET: {"code": RETURN_BALANCE, "balance": "0x1234"}}]),
    );
    assert_eq!(v["result"], json!(word(0x1234)), "{v}");
    // Nothing was written: the address still has no code.
    let v = call(&node, "eth_getCode", json!([TARGET, "latest"]));
    assert_eq!(v["result"], "0x", "{v}");
    let v = call(&node, "eth_call", json!([to, "latest"]));
    assert_eq!(v["result"], "0x", "{v}");

    // A poor sender made rich pays for gas; without the override it cannot.
    let poor = "0x00000000000000000000000000000000000000bb";
    let paid = json!({"from": poor, "to": TARGET, "gasPrice": "0x3b9aca00", "gas": "0x10000"});
    let v = call(&node, "eth_call", json!([paid, "latest"]));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("insufficient funds")),
        "{v}"
    );
    let v = call(
        &node,
        "eth_call",
        json!([paid, "latest", {poor: {"balance": "0xde0b6b3a7640000", "nonce": "0x5"}}]),
    );
    assert_eq!(v["result"], "0x", "{v}");

    // eth_estimateGas and debug_traceCall see the overridden code.
    let v = call(
        &node,
        "eth_estimateGas",
        json!([to, "latest", {TARGET: {"code": STORE}}]),
    );
    let gas = u64::from_str_radix(
        v["result"]
            .as_str()
            .unwrap_or("0x0")
            .trim_start_matches("0x"),
        16,
    )
    .unwrap_or(0);
    assert!(gas > 21_000 + 20_000, "{v}");
    let v = call(
        &node,
        "debug_traceCall",
        json!([to, "latest", {"stateOverrides": {TARGET: {"code": STORE}}}]),
    );
    let ops: Vec<&str> = v["result"]["structLogs"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["op"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ops, ["PUSH1", "PUSH1", "SSTORE", "STOP"], "{v}");

    // eth_createAccessList (with an override, its third argument): the slot the
    // code reads, the address it asks the balance of and the one it calls; the
    // called-into contract itself appears only with its slot.
    let aa = format!("{:040x}", 0xaa);
    let bb = format!("{:040x}", 0xbb);
    let code = format!("0x60005450 73{aa}3150 6000600060006000600073{bb}5af15000").replace(' ', "");
    let v = call(
        &node,
        "eth_createAccessList",
        json!([{"from": ADDR0, "to": TARGET}, "latest", {TARGET: {"code": code}}]),
    );
    assert_eq!(
        v["result"]["accessList"],
        json!([
            {"address": format!("0x{aa}"), "storageKeys": []},
            {"address": format!("0x{bb}"), "storageKeys": []},
            {"address": TARGET, "storageKeys": [word(0)]},
        ]),
        "{v}"
    );
    assert!(v["result"].get("error").is_none(), "{v}");
    let used = u64::from_str_radix(
        v["result"]["gasUsed"]
            .as_str()
            .unwrap_or("0x0")
            .trim_start_matches("0x"),
        16,
    )
    .unwrap_or(0);
    // gasUsed is what the call costs with that list.
    let traced = call(
        &node,
        "debug_traceCall",
        json!([
            {"from": ADDR0, "to": TARGET, "accessList": v["result"]["accessList"]},
            "latest",
            {"stateOverrides": {TARGET: {"code": code}}}
        ]),
    );
    assert_eq!(traced["result"]["gas"].as_u64(), Some(used), "{traced}");
    // A call that only stores: the recipient with its slot.
    let without = call(
        &node,
        "eth_createAccessList",
        json!([{"from": ADDR0, "to": TARGET, "accessList": []}, "latest", {TARGET: {"code": STORE}}]),
    );
    assert_eq!(
        without["result"]["accessList"],
        json!([{"address": TARGET, "storageKeys": [word(5)]}]),
        "{without}"
    );
    // The list is accepted back by eth_call.
    let v = call(
        &node,
        "eth_call",
        json!([{"to": TARGET, "accessList": v["result"]["accessList"]}, "latest", {TARGET: {"code": RETURN_SLOT0}}]),
    );
    assert_eq!(v["result"], json!(word(0)), "{v}");

    // Refused: both state and stateDiff, an unknown field, a short slot key.
    for bad in [
        json!({TARGET: {"state": {}, "stateDiff": {}}}),
        json!({TARGET: {"movePrecompileToAddress": TARGET}}),
        json!({TARGET: {"stateDiff": {"0x1": word(1)}}}),
    ] {
        let v = call(&node, "eth_call", json!([to, "latest", bad]));
        assert_eq!(v["error"]["code"], -32602, "{v}");
    }
}
