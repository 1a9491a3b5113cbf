//! Crash safety of the redb store: a child process commits blocks in a loop and is
//! SIGKILLed at pseudo-random moments, 20 times. After each kill the store must
//! reopen at a committed head whose state root re-verifies from the stored state:
//! every stored trie node of the head is present and the tries hold exactly the
//! flat account/storage tables, whose from-scratch root equals the head's root.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use actors::execution::{
    block::{Block, BlockAttributes, build_block, commit_block, init_genesis},
    chain_config::ChainConfig,
    genesis::Genesis,
    header::KalgoHeader,
    state::{ChangeSet, StateReader},
    state_root::{rebuild_state_root, state_root, verify_stored_tries},
};
use actors::storage::Store;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;

const CHILD_ENV: &str = "KALGO_CRASH_CHILD_DB";
const CHAIN_ID: u64 = 4242;

fn key() -> Result<PrivateKeySigner, String> {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).map_err(|e| e.to_string())
}

fn genesis(sender: Address) -> Result<Genesis, String> {
    let config = ChainConfig::new_chain(CHAIN_ID);
    let text = format!(
        r#"{{"config": {}, "gasLimit": "0x3c14dc0", "alloc": {{"{sender}": {{"balance": "0x21e19e0c9bab2400000"}}}}}}"#,
        serde_json::to_string(&config).map_err(|e| e.to_string())?
    );
    Genesis::from_json(&text).map_err(|e| e.to_string())
}

/// The child's loop: commit blocks of 50 transfers forever.
fn child(path: &Path) -> Result<(), String> {
    let key = key()?;
    let genesis = genesis(key.address())?;
    let store = Store::open(path).map_err(|e| e.to_string())?;
    init_genesis(&store, &genesis).map_err(|e| e.to_string())?;
    loop {
        let head = store.head().map_err(|e| e.to_string())?.ok_or("no head")?;
        let bytes = store
            .header(head.number)
            .map_err(|e| e.to_string())?
            .ok_or("no header")?;
        let parent = KalgoHeader::decode_bytes(&bytes).map_err(|e| e.to_string())?;
        let state = store.state().map_err(|e| e.to_string())?;
        let nonce = state
            .account(&key.address())
            .map_err(|e| e.to_string())?
            .map_or(0, |a| a.nonce);
        let mut txs = Vec::new();
        for i in 0..50u64 {
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce: nonce + i,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::from_word(B256::from(U256::from(
                    head.number * 100 + i + 1,
                )))),
                value: U256::from(7),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let sig = key
                .sign_hash_sync(&tx.signature_hash())
                .map_err(|e| e.to_string())?;
            let env: TxEnvelope = tx.into_signed(sig).into();
            txs.push((env, key.address()));
        }
        let attrs = BlockAttributes {
            timestamp: parent.eth.timestamp + 1,
            coinbase: Address::repeat_byte(0xcb),
            gas_limit: 63_000_000,
            seed: B256::repeat_byte(1),
            proposer: Address::repeat_byte(0xcc),
            total_balance_of_miners: U256::from(1),
            extra_data: Bytes::new(),
        };
        let config = genesis.config.clone();
        let (executed, _) = build_block(
            &config,
            &state,
            &parent,
            &attrs,
            txs,
            Duration::from_secs(10),
        )
        .map_err(|e| e.to_string())?;
        drop(state);
        commit_block(&store, &executed, b"certificate").map_err(|e| e.to_string())?;
    }
}

#[test]
fn crash_child_entry() {
    // Only does something when started by `store_survives_sigkill` as the child.
    if let Some(path) = std::env::var_os(CHILD_ENV)
        && let Err(e) = child(Path::new(&path))
    {
        eprintln!("child failed: {e}");
        std::process::exit(3);
    }
}

fn pseudo_random(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[test]
fn store_survives_sigkill() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_nanos() as u64
        | 1;
    let mut last_head = 0u64;
    for round in 0..20 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(150 + pseudo_random(&mut seed) % 400));
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("child exited early in round {round}: {status}"));
        }
        child.kill().map_err(|e| e.to_string())?; // SIGKILL on Unix
        child.wait().map_err(|e| e.to_string())?;

        let store = Store::open(&path).map_err(|e| e.to_string())?;
        let Some(head) = store.head().map_err(|e| e.to_string())? else {
            continue; // killed before genesis was committed
        };
        assert!(head.number >= last_head, "head went backwards");
        last_head = head.number;
        let header = store
            .header(head.number)
            .map_err(|e| e.to_string())?
            .ok_or("head header missing")?;
        let header = KalgoHeader::decode_bytes(&header).map_err(|e| e.to_string())?;
        assert_eq!(header.hash(), head.hash, "round {round}: head hash");
        assert_eq!(header.eth.state_root, head.state_root);
        assert_eq!(
            store
                .canonical_hash(head.number)
                .map_err(|e| e.to_string())?,
            Some(head.hash)
        );
        let state = store.state().map_err(|e| e.to_string())?;
        let root = state_root(&state, &ChangeSet::default())
            .map_err(|e| e.to_string())?
            .root;
        assert_eq!(
            root, head.state_root,
            "round {round}: state root re-verifies"
        );
        let leaves = verify_stored_tries(&state).map_err(|e| format!("round {round}: {e}"))?;
        assert!(leaves > 0);
        assert_eq!(
            rebuild_state_root(&state).map_err(|e| e.to_string())?,
            head.state_root,
            "round {round}: from-scratch root of the flat tables"
        );
        let body = store
            .body(head.number)
            .map_err(|e| e.to_string())?
            .ok_or("body missing")?;
        let txs = Block::decode_body(&body).map_err(|e| e.to_string())?;
        assert_eq!(
            header.eth.transactions_root,
            alloy_consensus::proofs::calculate_transaction_root(&txs)
        );
        assert!(
            store
                .header(head.number + 1)
                .map_err(|e| e.to_string())?
                .is_none()
        );
    }
    assert!(last_head > 0, "no block was ever committed");
    println!("crash test: final head {last_head}");
    Ok(())
}
