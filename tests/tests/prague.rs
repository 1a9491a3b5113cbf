//! Prague as claimed, on a real `kalgo --dev`: `eth_estimateGas` of a value
//! transfer carrying an access list; geth's call arguments and blob answers on a
//! chain without blobs.

use alloy_consensus::{SignableTransaction, TxEip4844, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, hex};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Private key of development account #0.
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

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

fn signer() -> PrivateKeySigner {
    KEY0.parse().expect("dev key")
}

#[test]
fn blob_fields_are_ignored_and_blob_transactions_refused() {
    let node = DevNode::start("latest", 300, &[]);
    // geth on a Cancun chain that never saw a blob: excess blob gas 0, fee 1 wei.
    let v = call(&node, "eth_blobBaseFee", json!([]));
    assert_eq!(v["result"], "0x1", "{v}");

    // A call with every field of geth's TransactionArgs.
    let hash = format!("0x01{}", "00".repeat(31));
    let args = json!({
        "from": ADDR0, "to": NO_CODE, "gas": "0x186a0", "value": "0x1",
        "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1", "nonce": "0x0",
        "input": "0x", "data": "0x", "chainId": "0x539", "type": "0x3",
        "accessList": [], "blobVersionedHashes": [hash], "maxFeePerBlobGas": "0x1",
        "blobs": [], "commitments": [], "proofs": [],
    });
    let v = call(&node, "eth_call", json!([args]));
    assert_eq!(v["result"], "0x", "{v}");
    let v = call(&node, "eth_estimateGas", json!([args]));
    assert_eq!(v["result"], "0x5208", "{v}");
    // Unknown fields are still refused.
    let v = call(&node, "eth_call", json!([{"to": NO_CODE, "bogus": 1}]));
    assert_eq!(v["error"]["code"], -32602, "{v}");

    // A signed type-3 transaction: refused for what it is, with or without
    // a sidecar's worth of bytes, and nothing is pooled.
    let tx = TxEip4844 {
        chain_id: 1337,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1,
        max_fee_per_blob_gas: 1,
        to: Address::repeat_byte(0xc0),
        blob_versioned_hashes: vec![B256::repeat_byte(1)],
        ..Default::default()
    };
    let sig = signer().sign_hash_sync(&tx.signature_hash()).expect("sign");
    let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
    let mut big = raw.clone();
    big.resize(200 * 1024, 0);
    for bytes in [raw, big] {
        let v = call(
            &node,
            "eth_sendRawTransaction",
            json!([format!("0x{}", hex::encode(&bytes))]),
        );
        assert_eq!(v["error"]["code"], -32000, "{v}");
        assert_eq!(
            v["error"]["message"], "blob transactions are not supported on this chain",
            "{v}"
        );
    }
    let v = call(&node, "txpool_status", json!([]));
    assert_eq!(v["result"]["pending"], "0x0", "{v}");
}

#[test]
fn blob_base_fee_is_null_before_cancun() {
    let node = DevNode::start("london", 300, &[]);
    let v = call(&node, "eth_blobBaseFee", json!([]));
    assert_eq!(v["result"], Value::Null, "{v}");
}
