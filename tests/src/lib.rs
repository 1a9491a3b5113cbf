//! # tests — black-box tests of real `kalgo` processes
//!
//! Processes on 127.0.0.1: a single miner (`tests/single_miner.rs`), clusters of
//! validators and followers ([`cluster`]; `validators.rs`, `follower.rs`,
//! `gossip_fuzz.rs`), the real Ethereum clients against `kalgo --dev`
//! (`tests/clients.rs`) and the JSON-RPC server's handling of bad input
//! (`tests/rpc_robustness.rs`). [`devnode`] starts a dev node and speaks raw HTTP
//! to it. [`faults`] adds JSON-RPC, restarts, pauses, wipes and partitions to a
//! cluster (`tests/faults.rs`).

pub mod cluster;
pub mod devnode;
pub mod faults;
