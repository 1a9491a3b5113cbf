//! Execution benchmark: blocks of 1,000 and 10,000 transfers through revm +
//! state root + redb commit, against revm alone on an in-memory database.
//!
//! Run: `cargo run --release -p actors --example exec_bench`

use std::time::{Duration, Instant};

use actors::execution::{
    block::{BlockAttributes, build_block, commit_block, init_genesis},
    chain_config::ChainConfig,
    genesis::Genesis,
    header::KalgoHeader,
};
use actors::storage::Store;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext, context::TxEnv, database::InMemoryDB,
    primitives::hardfork::SpecId, state::AccountInfo,
};

const CHAIN_ID: u64 = 1337;

fn signed_transfers(keys: &[PrivateKeySigner], n: usize, round: u64) -> Vec<(TxEnvelope, Address)> {
    (0..n)
        .map(|i| {
            let key = &keys[i % keys.len()];
            let nonce = round * (n / keys.len()) as u64 + (i / keys.len()) as u64;
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::from_word(B256::from(U256::from(
                    1_000_000 + i as u64 + round * n as u64,
                )))),
                value: U256::from(1),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).expect("sign");
            (tx.into_signed(sig).into(), key.address())
        })
        .collect()
}

fn main() {
    let senders = 1000;
    let keys: Vec<PrivateKeySigner> = (1..=senders)
        .map(|i: u32| PrivateKeySigner::from_bytes(&B256::from(U256::from(i))).expect("key"))
        .collect();
    for &n in &[1_000usize, 10_000] {
        let mut config = ChainConfig::new_chain(CHAIN_ID);
        config.prague_time = Some(0);
        let alloc: Vec<String> = keys
            .iter()
            .map(|k| {
                format!(
                    r#""{}": {{"balance": "0x21e19e0c9bab2400000"}}"#,
                    k.address()
                )
            })
            .collect();
        let text = format!(
            r#"{{"config": {}, "gasLimit": "{}", "alloc": {{{}}}}}"#,
            serde_json::to_string(&config).expect("config"),
            1_000_000_000u64,
            alloc.join(",")
        );
        let genesis = Genesis::from_json(&text).expect("genesis");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("bench.redb")).expect("store");
        let (_, mut parent): (_, KalgoHeader) = init_genesis(&store, &genesis).expect("genesis");
        let rounds = 3u64;
        let mut ours = Duration::ZERO;
        for round in 0..rounds {
            let txs = signed_transfers(&keys, n, round);
            let attrs = BlockAttributes {
                timestamp: parent.eth.timestamp + 1,
                coinbase: Address::repeat_byte(0xcb),
                gas_limit: 1_000_000_000,
                seed: B256::repeat_byte(1),
                proposer: Address::repeat_byte(0xcc),
                total_balance_of_miners: U256::from(1),
                extra_data: Bytes::new(),
            };
            let start = Instant::now();
            let state = store.state().expect("state");
            let (executed, rejected) = build_block(
                &config,
                &state,
                &parent,
                &attrs,
                txs,
                Duration::from_secs(60),
            )
            .expect("build");
            assert!(rejected.is_empty(), "{:?}", rejected.first());
            assert_eq!(executed.block.transactions.len(), n);
            commit_block(&store, &executed, b"cert").expect("commit");
            ours += start.elapsed();
            parent = executed.block.header;
        }
        // revm alone, in memory, same transfers.
        let mut db = InMemoryDB::default();
        for k in &keys {
            db.insert_account_info(
                k.address(),
                AccountInfo::from_balance(U256::from(10u128.pow(22))),
            );
        }
        let mut evm = Context::mainnet()
            .with_db(db)
            .modify_cfg_chained(|cfg| {
                cfg.chain_id = CHAIN_ID;
                cfg.set_spec_and_mainnet_gas_params(SpecId::PRAGUE);
            })
            .modify_block_chained(|b| {
                b.gas_limit = 1_000_000_000;
                b.basefee = 1_000_000_000;
            })
            .build_mainnet();
        let mut alone = Duration::ZERO;
        for round in 0..rounds {
            let txs = signed_transfers(&keys, n, round);
            let start = Instant::now();
            for (tx, sender) in &txs {
                evm.transact_commit(TxEnv::from_recovered_tx(tx, *sender))
                    .expect("tx");
            }
            alone += start.elapsed();
        }
        let total = (n as u64 * rounds) as f64;
        let ours_tps = total / ours.as_secs_f64();
        let alone_tps = total / alone.as_secs_f64();
        println!(
            "block of {n:>6} transfers: kalgo (revm + state root + redb commit) {:>8.0} transfers/s ({:.1} ms/block); revm alone in memory {:>8.0} transfers/s; ratio {:.2}x",
            ours_tps,
            ours.as_secs_f64() * 1000.0 / rounds as f64,
            alone_tps,
            alone_tps / ours_tps
        );
    }
}
