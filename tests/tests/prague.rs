//! Prague as claimed, on a real `kalgo --dev`: `eth_estimateGas` of a value
//! transfer carrying an access list.

use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Development account #0, funded by `--dev`.
const ADDR0: &str = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
/// An address with no code on the dev chain.
const NO_CODE: &str = "0x00000000000000000000000000000000000c0de0";

fn call(node: &DevNode, method: &str, params: Value) -> Value {
    node.call(method, &params.to_string()).expect("HTTP call")
}

#[test]
fn transfer_estimate_counts_the_access_list() {
    let node = DevNode::start("latest", 300, &[]);
    let key = format!("0x{:064x}", 1);
    for (list, want) in [
        (json!([]), "0x5208"),
        (json!([{"address": NO_CODE, "storageKeys": []}]), "0x5b68"),
        (
            json!([{"address": NO_CODE, "storageKeys": [key]}]),
            "0x62d4",
        ),
    ] {
        let tx = json!({"from": ADDR0, "to": NO_CODE, "value": "0x7", "accessList": list});
        let v = call(&node, "eth_estimateGas", json!([tx]));
        assert_eq!(v["result"], want, "{list}: {v}");
        // The estimate is enough: the same call with that gas succeeds.
        let mut with_gas = tx.clone();
        with_gas["gas"] = v["result"].clone();
        let v = call(&node, "eth_call", json!([with_gas]));
        assert_eq!(v["result"], "0x", "{list}: {v}");
    }
}
