//! # actors — the resources of a kalgo node
//!
//! One actix actor per resource (consensus, gossip, execution, storage), talking
//! only by messages (see `ARCHITECTURE.md`). Protocol rules are not decided here:
//! they live in the `spec` crate.
//!
//! State today: the execution layer exists as plain library code in [`execution`]
//! (revm over redb storage, state root, genesis, blocks, pool, statetest runner);
//! the actors that host it are not built yet.
pub mod consensus;
pub mod execution;
pub mod runtime;
