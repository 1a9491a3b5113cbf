//! # actors — the resources of a kalgo node
//!
//! One actix actor per resource (consensus, gossip, execution, storage), talking
//! only by messages (see `ARCHITECTURE.md`). Protocol rules are not decided here:
//! they live in the `spec` crate.
//!
//! State today: [`execution`] (revm over redb, genesis, blocks, pool, and the
//! [`execution::service::ExecutionService`]), [`consensus`] (the BA* host core,
//! journal, the registry over committed state, forward-secure key source) and
//! [`runtime`] (the execution and
//! consensus actix actors). The libp2p gossip actor and catch-up sync are not built
//! yet: a node runs as a single miner.
pub mod consensus;
pub mod execution;
pub mod fuzz_checks;
pub mod runtime;
