//! `eth_getProof` (EIP-1186) on a real `kalgo --dev`: the account and storage
//! proofs of a contract with two set slots, of a funded account and of an absent
//! account are verified with alloy-trie against the block's `stateRoot`, at the
//! head and at an older block.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Development account #1 ("test … junk" mnemonic), funded by `--dev`.
const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDR1: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
/// Init code that sets slot 0 = 0x2a and slot 1 = 7 and deploys no code.
const INIT: &str = "0x602a600055600760015500";

fn ok(node: &DevNode, method: &str, params: Value) -> Value {
    let v = node.call(method, &params.to_string()).expect("HTTP call");
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

fn parse<T: std::str::FromStr>(v: &Value) -> T
where
    T::Err: std::fmt::Debug,
{
    v.as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e:?}"))
}

fn nodes(v: &Value) -> Vec<Bytes> {
    v.as_array()
        .map(|a| a.iter().map(parse::<Bytes>).collect())
        .unwrap_or_default()
}

/// Checks an `eth_getProof` answer against `state_root`; returns the slot values.
fn verify(answer: &Value, state_root: B256) -> Vec<U256> {
    let address: Address = parse(&answer["address"]);
    let account = TrieAccount {
        nonce: parse::<U256>(&answer["nonce"]).to::<u64>(),
        balance: parse(&answer["balance"]),
        storage_root: parse(&answer["storageHash"]),
        code_hash: parse(&answer["codeHash"]),
    };
    // An absent account is reported as the empty one, and proven absent.
    let empty = TrieAccount {
        code_hash: alloy_primitives::KECCAK256_EMPTY,
        storage_root: alloy_trie::EMPTY_ROOT_HASH,
        ..TrieAccount::default()
    };
    let expected = (account != empty).then(|| alloy_rlp::encode(account));
    let proof = nodes(&answer["accountProof"]);
    verify_proof(
        state_root,
        Nibbles::unpack(keccak256(address)),
        expected,
        &proof,
    )
    .unwrap_or_else(|e| panic!("account proof of {address}: {e}"));
    let mut values = Vec::new();
    for s in answer["storageProof"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let slot: U256 = parse(&s["key"]);
        let value: U256 = parse(&s["value"]);
        let expected = (!value.is_zero()).then(|| alloy_rlp::encode(value));
        let key = keccak256(slot.to_be_bytes::<32>());
        verify_proof(
            account.storage_root,
            Nibbles::unpack(key),
            expected,
            &nodes(&s["proof"]),
        )
        .unwrap_or_else(|e| panic!("storage proof of {slot}: {e}"));
        values.push(value);
    }
    values
}

fn state_root(node: &DevNode, number: &Value) -> B256 {
    parse(&ok(node, "eth_getBlockByNumber", json!([number, false]))["stateRoot"])
}

#[test]
fn proofs_verify_against_block_state_roots() {
    let node = DevNode::start(
        "latest",
        300,
        &[
            "--http.api",
            "eth,net,web3,personal",
            "--allow-insecure-unlock",
            "--lightkdf",
        ],
    );
    ok(&node, "personal_importRawKey", json!([KEY1, "pw"]));
    ok(&node, "personal_unlockAccount", json!([ADDR1, "pw", 0]));
    let before = ok(&node, "eth_blockNumber", json!([]));
    let hash = ok(
        &node,
        "eth_sendTransaction",
        json!([{"from": ADDR1, "data": INIT, "gas": "0x20000"}]),
    );
    let mut receipt = Value::Null;
    for _ in 0..300 {
        receipt = ok(&node, "eth_getTransactionReceipt", json!([hash]));
        if !receipt.is_null() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let contract = receipt["contractAddress"].clone();
    let at = receipt["blockNumber"].clone();
    let root = state_root(&node, &at);

    // The contract: two set slots, one unset, keys in geth's accepted spellings.
    let answer = ok(
        &node,
        "eth_getProof",
        json!([
            contract,
            ["0x0", "0x01", format!("0x{}", "00".repeat(31) + "02")],
            at
        ]),
    );
    assert_eq!(answer["storageProof"][1]["key"], "0x01");
    assert_eq!(
        verify(&answer, root),
        [U256::from(0x2a), U256::from(7), U256::ZERO]
    );
    assert_ne!(answer["storageHash"], json!(alloy_trie::EMPTY_ROOT_HASH));

    // The sender and an absent account, at the same block.
    let sender = ok(&node, "eth_getProof", json!([ADDR1, [], at]));
    assert_eq!(sender["nonce"], "0x1");
    verify(&sender, root);
    let absent = ok(
        &node,
        "eth_getProof",
        json!(["0x00000000000000000000000000000000000000ee", ["0x1"], at]),
    );
    assert_eq!(absent["balance"], "0x0");
    assert_eq!(verify(&absent, root), [U256::ZERO]);

    // Before the deployment the contract is absent (read through the older trie).
    let old = ok(&node, "eth_getProof", json!([contract, ["0x0"], before]));
    assert_eq!(old["codeHash"], json!(alloy_primitives::KECCAK256_EMPTY));
    assert_eq!(verify(&old, state_root(&node, &before)), [U256::ZERO]);

    // A proof against the wrong root fails.
    let other = state_root(&node, &before);
    let proof = nodes(&answer["accountProof"]);
    assert!(
        verify_proof(
            other,
            Nibbles::unpack(keccak256(parse::<Address>(&contract))),
            None,
            &proof
        )
        .is_err()
    );

    // Bad input: a key longer than 32 bytes, too many keys.
    let bad = node
        .call(
            "eth_getProof",
            &json!([contract, [format!("0x{}", "11".repeat(33))], "latest"]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let many: Vec<String> = (0..1025).map(|i| format!("{i:#x}")).collect();
    let bad = node
        .call(
            "eth_getProof",
            &json!([contract, many, "latest"]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(bad["error"]["code"], -32005, "{bad}");
}
