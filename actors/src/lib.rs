//! # actors — the resources of a kalgo node
//!
//! One actix actor per resource (consensus, gossip, execution, storage), talking
//! only by messages (see `ARCHITECTURE.md`). Protocol rules are not decided here:
//! they live in the `spec` crate.
//!
//! State today: [`execution`] (revm over redb, genesis, blocks, pool, and the
//! [`execution::service::ExecutionService`]), [`consensus`] (the BA* host core,
//! journal, the registry over committed state, forward-secure key source, checks
//! of synced blocks), [`gossip`] (the libp2p swarm task, gossipsub topics,
//! catch-up sync protocol, and the gossip actor) and [`runtime`] (the execution
//! and consensus actix actors).
pub mod consensus;
pub mod execution;
pub mod fuzz_checks;
pub mod gossip;
pub mod metrics;
mod redb_error;
pub mod runtime;
