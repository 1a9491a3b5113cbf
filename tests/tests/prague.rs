//! Prague as claimed, on a real `kalgo --dev`: `eth_estimateGas` of a value
//! transfer carrying an access list; geth's call arguments and blob answers on a
//! chain without blobs; EIP-7702 delegations end to end, and their refusal
//! before Prague.

use std::time::Duration;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEip7702, TxEnvelope};
use alloy_eips::{eip2718::Encodable2718, eip7702::Authorization};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, hex};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Private key of development account #0.
const KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Private keys of development accounts #1 and #2.
const KEY1: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const KEY2: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
/// Init code of a contract whose code returns ADDRESS: run through a delegated
/// account, it answers that account's address.
const RETURN_ADDRESS_INIT: &str = "0x683060005260206000f360005260096017f3";
/// Fee cap of the test transactions (10 gwei).
const FEE: u128 = 10_000_000_000;

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

fn key(k: &str) -> PrivateKeySigner {
    k.parse().expect("dev key")
}

fn word(a: Address) -> String {
    format!("0x{:0>64}", hex::encode(a))
}

fn nonce(node: &DevNode, a: Address) -> u64 {
    let v = call(node, "eth_getTransactionCount", json!([a, "pending"]));
    let n = v["result"].as_str().expect("nonce");
    u64::from_str_radix(n.trim_start_matches("0x"), 16).expect("hex nonce")
}

fn send(node: &DevNode, tx: TxEnvelope) -> Value {
    let raw = format!("0x{}", hex::encode(tx.encoded_2718()));
    call(node, "eth_sendRawTransaction", json!([raw]))
}

fn receipt(node: &DevNode, hash: &Value) -> Value {
    for _ in 0..300 {
        let v = call(node, "eth_getTransactionReceipt", json!([hash]));
        if !v["result"].is_null() {
            return v["result"].clone();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no receipt for {hash}");
}

fn sign_1559(k: &PrivateKeySigner, tx: TxEip1559) -> TxEnvelope {
    let sig = k.sign_hash_sync(&tx.signature_hash()).expect("sign");
    tx.into_signed(sig).into()
}

fn sign_7702(k: &PrivateKeySigner, tx: TxEip7702) -> TxEnvelope {
    let sig = k.sign_hash_sync(&tx.signature_hash()).expect("sign");
    tx.into_signed(sig).into()
}

fn authorize(
    k: &PrivateKeySigner,
    delegate: Address,
    nonce: u64,
) -> alloy_eips::eip7702::SignedAuthorization {
    let auth = Authorization {
        chain_id: U256::from(1337),
        address: delegate,
        nonce,
    };
    let sig = k.sign_hash_sync(&auth.signature_hash()).expect("sign");
    auth.into_signed(sig)
}

/// Deploys the ADDRESS-returning contract from account #0; its address.
fn deploy_delegate(node: &DevNode) -> Address {
    let k0 = signer();
    let tx = TxEip1559 {
        chain_id: 1337,
        nonce: nonce(node, k0.address()),
        gas_limit: 100_000,
        max_fee_per_gas: FEE,
        max_priority_fee_per_gas: 1,
        to: TxKind::Create,
        input: RETURN_ADDRESS_INIT.parse::<Bytes>().expect("init code"),
        ..Default::default()
    };
    let v = send(node, sign_1559(&k0, tx));
    let r = receipt(node, &v["result"]);
    assert_eq!(r["status"], "0x1", "{r}");
    r["contractAddress"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("contract address")
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

#[test]
fn delegations_are_mined_and_calls_run_the_delegate() {
    let node = DevNode::start("latest", 300, &[]);
    let (k0, k1, k2) = (signer(), key(KEY1), key(KEY2));
    let delegate = deploy_delegate(&node);

    // #0 sends a set-code transaction for #1 (sponsored delegation).
    let tx = TxEip7702 {
        chain_id: 1337,
        nonce: nonce(&node, k0.address()),
        gas_limit: 100_000,
        max_fee_per_gas: FEE,
        max_priority_fee_per_gas: 1,
        to: k1.address(),
        authorization_list: vec![authorize(&k1, delegate, nonce(&node, k1.address()))],
        ..Default::default()
    };
    let v = send(&node, sign_7702(&k0, tx));
    let hash = v["result"].clone();
    assert!(hash.is_string(), "{v}");
    let r = receipt(&node, &hash);
    assert_eq!(r["status"], "0x1", "{r}");
    assert_eq!(r["type"], "0x4", "{r}");
    let code = call(&node, "eth_getCode", json!([k1.address(), "latest"]));
    assert_eq!(
        code["result"],
        format!("0xef0100{}", hex::encode(delegate)),
        "{code}"
    );
    // The authorization bumped #1's nonce.
    assert_eq!(nonce(&node, k1.address()), 1);

    // The transaction shows its authorizations as geth does.
    let t = call(&node, "eth_getTransactionByHash", json!([hash]));
    let auth = &t["result"]["authorizationList"][0];
    assert_eq!(t["result"]["type"], "0x4", "{t}");
    assert_eq!(auth["chainId"], "0x539", "{t}");
    assert_eq!(auth["address"], json!(delegate), "{t}");
    assert_eq!(auth["nonce"], "0x0", "{t}");
    for field in ["yParity", "r", "s"] {
        assert!(
            auth[field].as_str().is_some_and(|v| v.starts_with("0x")),
            "{t}"
        );
    }

    // A call to #1 runs the delegate's code in #1's context.
    let v = call(&node, "eth_call", json!([{"to": k1.address()}]));
    assert_eq!(v["result"], word(k1.address()), "{v}");

    // A call carrying an authorization of #2 (not mined) does the same for #2.
    let list = json!([authorize(&k2, delegate, 0)]);
    let args = json!({"from": k0.address(), "to": k2.address(), "authorizationList": list});
    let v = call(&node, "eth_call", json!([args]));
    assert_eq!(v["result"], word(k2.address()), "{v}");
    let v = call(&node, "eth_estimateGas", json!([args]));
    let gas = v["result"].as_str().expect("estimate");
    assert!(
        u64::from_str_radix(&gas[2..], 16).is_ok_and(|g| g > 21_000 + 12_500),
        "{v}"
    );
    let v = call(&node, "eth_call", json!([{"authorizationList": list}]));
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let v = call(&node, "eth_getCode", json!([k2.address(), "latest"]));
    assert_eq!(v["result"], "0x", "{v}");

    // Pool rules: no empty authorization list; a delegated sender keeps one
    // transaction in flight (nonce gaps keep these from being mined).
    let empty = TxEip7702 {
        chain_id: 1337,
        nonce: nonce(&node, k0.address()),
        gas_limit: 100_000,
        max_fee_per_gas: FEE,
        to: k2.address(),
        ..Default::default()
    };
    let v = send(&node, sign_7702(&k0, empty));
    assert_eq!(
        v["error"]["message"], "set code tx must have at least one authorization tuple",
        "{v}"
    );
    let gapped = |n: u64| TxEip1559 {
        chain_id: 1337,
        nonce: n,
        gas_limit: 21_000,
        max_fee_per_gas: FEE,
        to: TxKind::Call(k0.address()),
        ..Default::default()
    };
    let v = send(&node, sign_1559(&k1, gapped(10)));
    assert!(v["result"].is_string(), "{v}");
    let v = send(&node, sign_1559(&k1, gapped(11)));
    assert_eq!(
        v["error"]["message"], "in-flight transaction limit reached for delegated accounts",
        "{v}"
    );
}

#[test]
fn delegations_are_refused_before_prague() {
    let node = DevNode::start("cancun", 300, &[]);
    let (k0, k1) = (signer(), key(KEY1));
    let delegate = Address::repeat_byte(0xdd);
    let tx = TxEip7702 {
        chain_id: 1337,
        nonce: nonce(&node, k0.address()),
        gas_limit: 100_000,
        max_fee_per_gas: FEE,
        to: k1.address(),
        authorization_list: vec![authorize(&k1, delegate, 0)],
        ..Default::default()
    };
    let v = send(&node, sign_7702(&k0, tx));
    assert_eq!(
        v["error"]["message"], "transaction type not supported",
        "{v}"
    );
    let args = json!({"to": k1.address(), "authorizationList": [authorize(&k1, delegate, 0)]});
    let v = call(&node, "eth_call", json!([args]));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs Prague")),
        "{v}"
    );
    let v = call(&node, "txpool_status", json!([]));
    assert_eq!(v["result"]["pending"], "0x0", "{v}");
}

#[test]
fn node_held_keys_send_delegations_and_traces_take_authorizations() {
    let node = DevNode::start(
        "latest",
        300,
        &[
            "--http.api",
            "eth,net,web3,personal,debug",
            "--allow-insecure-unlock",
            "--lightkdf",
        ],
    );
    let (k1, k2) = (key(KEY1), key(KEY2));
    let delegate = deploy_delegate(&node);
    let v = call(&node, "personal_importRawKey", json!([&KEY1[2..], "pw"]));
    assert!(v["result"].is_string(), "{v}");
    let v = call(
        &node,
        "personal_unlockAccount",
        json!([k1.address(), "pw", 0]),
    );
    assert_eq!(v["result"], true, "{v}");

    // debug_traceCall runs the delegate for an authorization not yet mined.
    let list = json!([authorize(&k2, delegate, 0)]);
    let args = json!({"from": k1.address(), "to": k2.address(), "authorizationList": list});
    let v = call(&node, "debug_traceCall", json!([args, "latest"]));
    assert_eq!(v["result"]["failed"], false, "{v}");
    let returned = v["result"]["returnValue"].as_str().unwrap_or_default();
    assert!(returned.ends_with(&hex::encode(k2.address())), "{v}");

    // eth_sendTransaction signs a set-code transaction with the node-held key.
    let v = call(&node, "eth_sendTransaction", json!([args]));
    let hash = v["result"].clone();
    assert!(hash.is_string(), "{v}");
    let r = receipt(&node, &hash);
    assert_eq!(
        (r["status"].as_str(), r["type"].as_str()),
        (Some("0x1"), Some("0x4")),
        "{r}"
    );
    let v = call(&node, "eth_call", json!([{"to": k2.address()}]));
    assert_eq!(v["result"], word(k2.address()), "{v}");
}
