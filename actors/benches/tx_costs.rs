//! What one transfer costs each validator, piece by piece:
//! `cargo bench -p actors --bench tx_costs`.
//!
//! Every validator of a network repeats this work for every transaction: it
//! decodes it and recovers its sender once (on admission to its pool, from
//! RPC or gossip), and executes it once, building its own proposal or
//! validating someone else's; it checks each received block's body against its
//! header. The figures bound what a network of N validators on one machine can
//! confirm per second (docs/benchmarks.md, "Where a transfer's CPU goes").
//!
//! A small timing harness like `spec`'s `vote_auth`: each figure is the median
//! of several samples, per transaction, on a block of [`TXS`] plain transfers
//! from [`SENDERS`] senders over a genesis state read from redb.

use actors::execution::block::{
    Block, BlockAttributes, execute_block_with_senders, init_genesis, validate_block_with_senders,
};
use actors::execution::chain_config::ChainConfig;
use actors::execution::genesis::Genesis;
use actors::execution::pool::{MAX_TX_BYTES, RecoveredTx};
use actors::storage::Store;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

const SAMPLES: usize = 7;
const SENDERS: usize = 300;
const TXS: usize = 3000;
const CHAIN: u64 = 1337;

/// Median over `SAMPLES` of µs per transaction of `f`, which handles `TXS`.
fn median_us_per_tx(mut f: impl FnMut()) -> f64 {
    f();
    let mut xs: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6 / TXS as f64
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    xs[SAMPLES / 2]
}

fn transfer(key: &PrivateKeySigner, nonce: u64, to: Address) -> TxEnvelope {
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 3_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(1000),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .expect("signing a hash cannot fail");
    tx.into_signed(sig).into()
}

fn main() {
    let keys: Vec<PrivateKeySigner> = (0..SENDERS)
        .map(|i| {
            let mut seed = [0x11u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            PrivateKeySigner::from_bytes(&B256::from(seed)).expect("key")
        })
        .collect();
    let config = ChainConfig::new_chain(CHAIN);
    let alloc: Vec<String> = keys
        .iter()
        .map(|k| format!(r#""{}": {{"balance": "0x56bc75e2d63100000"}}"#, k.address()))
        .collect();
    let text = format!(
        r#"{{"config": {}, "gasLimit": "0x3b9aca00", "alloc": {{{}}}}}"#,
        serde_json::to_string(&config).expect("config"),
        alloc.join(",")
    );
    let genesis = Genesis::from_json(&text).expect("genesis");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("db")).expect("store");
    let (_, parent) = init_genesis(&store, &genesis).expect("genesis");

    // Round-robin over the senders, each to a fresh recipient (as `kalgo loadtest`).
    let txs: Vec<TxEnvelope> = (0..TXS)
        .map(|i| {
            let to = Address::from_word(B256::from(U256::from(0xfeed_0000_u64 + i as u64)));
            transfer(&keys[i % SENDERS], (i / SENDERS) as u64, to)
        })
        .collect();
    let raws: Vec<Vec<u8>> = txs.iter().map(|t| t.encoded_2718()).collect();
    let senders: HashMap<B256, Address> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| (*t.tx_hash(), keys[i % SENDERS].address()))
        .collect();
    let attrs = BlockAttributes {
        timestamp: parent.eth.timestamp + 1,
        coinbase: Address::repeat_byte(0xcb),
        gas_limit: parent.eth.gas_limit,
        seed: B256::repeat_byte(5),
        proposer: Address::repeat_byte(0xcc),
        total_balance_of_miners: parent.total_balance_of_miners,
        extra_data: Bytes::new(),
    };
    let state = store.reader().state().expect("state");
    let known = |h: &B256| senders.get(h).copied();
    let built = execute_block_with_senders(&config, &state, &parent, &attrs, txs.clone(), known)
        .expect("the block executes");
    let block: Block = built.block.clone();

    println!("per transaction, median of {SAMPLES} samples, a block of {TXS} transfers");
    println!("| work | µs per transaction |");
    println!("|---|---|");
    let recover = median_us_per_tx(|| {
        for raw in &raws {
            black_box(RecoveredTx::from_raw(raw, CHAIN, MAX_TX_BYTES).expect("valid"));
        }
    });
    println!("| decode + sender recovery (`RecoveredTx::from_raw`) | {recover:.2} |");
    let build = median_us_per_tx(|| {
        black_box(
            execute_block_with_senders(&config, &state, &parent, &attrs, txs.clone(), known)
                .expect("executes"),
        );
    });
    println!("| build: execute with known senders, roots, header | {build:.2} |");
    let validate = median_us_per_tx(|| {
        black_box(
            validate_block_with_senders(&config, &state, &parent, &block, known).expect("valid"),
        );
    });
    println!("| validate a received block, senders known | {validate:.2} |");
    let body = median_us_per_tx(|| {
        assert!(black_box(&block).body_matches_header());
    });
    println!("| a received block's body against its header | {body:.2} |");
}
