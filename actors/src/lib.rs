//! # actors — the resources of a kalgo node
//!
//! One actix actor per resource (consensus, gossip, execution, storage), talking
//! only by messages (see `ARCHITECTURE.md`). Protocol rules are not decided here:
//! they live in the `spec` crate.
//!
//! The rooms: [`execution`] (revm, genesis, blocks, pool, and the
//! [`execution::service::ExecutionService`]), [`storage`] (the chain database,
//! its read handle, the state at past blocks and the consensus journal),
//! [`consensus`] (the BA* host core, the committee over committed state,
//! forward-secure key source, checks of synced blocks), [`gossip`] (the libp2p swarm task, gossipsub topics,
//! catch-up sync protocol, and the gossip actor) and [`runtime`] (the execution
//! and consensus actix actors).
pub mod consensus;
pub mod execution;
pub mod fuzz_checks;
pub mod gossip;
pub mod metrics;
pub mod runtime;
pub mod storage;
