//! # actors — the resources of a kalgo node
//!
//! One actix actor per resource (consensus, gossip, execution, storage), talking
//! only by messages (see `ARCHITECTURE.md`). Protocol rules are not decided here:
//! they live in the `spec` crate.
//!
//! State today: the execution layer and the actors are not built yet (issues 4 and 6).
pub mod execution;
