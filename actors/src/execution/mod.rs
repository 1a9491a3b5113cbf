//! Ethereum execution: revm over kalgo's own state storage, the MPT state root,
//! and the Ethereum state test runner that proves them.
//!
//! - [`state`]: the state reader trait, change sets, the revm database overlay;
//! - [`state_root`]: the incremental, persistent state and storage tries (eth_trie
//!   over stored nodes; alloy-trie for from-scratch checks);
//! - [`chain_config`], [`genesis`]: the fork schedule and `genesis.json`;
//! - [`header`]: the header with Kaleido's extra fields;
//! - [`miner`]: the miner system contract and the miner registry consensus reads;
//! - [`block`]: block execution, validation, building and commit;
//! - [`pool`]: the transaction pool;
//! - [`executor`]: transaction execution with revm;
//! - [`query`]: chain reads for JSON-RPC (blocks, transactions, receipts, logs);
//! - [`access_list`]: `eth_createAccessList` (an access-list tracer);
//! - [`call`]: `eth_call` and `eth_estimateGas` over a committed state;
//! - [`trace`]: opcode traces (geth's struct logger) for `debug_trace*`, and
//!   [`call_tracer`]: geth's `callTracer`;
//! - [`proof`]: account and storage proofs (EIP-1186) from the stored tries;
//! - [`service`]: the execution resource (store, pool, executed-block cache) as one value;
//! - [`statetest`]: the GeneralStateTests conformance runner (`kalgo statetest`).

pub mod access_list;
pub mod block;
pub mod call;
pub mod call_tracer;
pub mod chain_config;
pub mod executor;
pub mod genesis;
pub mod header;
pub mod memory_state;
pub mod miner;
pub mod pool;
pub mod proof;
pub mod query;
pub mod service;
pub mod state;
pub mod state_root;
pub mod statetest;
pub mod trace;
mod trace_common;
