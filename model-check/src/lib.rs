//! # model-check — exhaustive exploration of kalgo's BA* machine with stateright
//!
//! The node logic is `spec`'s [`spec::machine::Machine`] itself, in fixed-committee
//! mode (weights as seats, thresholds from `Params::fixed_committee(..).thresholds`).
//! Height 1 only: a node that commits stops.
//!
//! Modules:
//! - [`config`]: the named configurations MC-0 … MC-6 (consensus.md §(b.4)) and the
//!   `cert-threshold=half` mutation;
//! - [`model`]: the stateright model: network, Byzantine voters, timers, crashes;
//! - [`hashed`]: shared state parts that carry their content hash;
//! - [`props`]: safety S1, S2, S3, S5, S7, S9, S10 from `spec::invariants`,
//!   reachability L4 and bounded liveness L1 (consensus.md §(c));
//! - [`run`]: running a configuration, figures, verdicts and counterexample traces;
//! - [`symmetry`]: symmetry reduction over interchangeable nodes.

pub mod config;
pub mod explorer;
pub mod hashed;
pub mod model;
pub mod props;
pub mod run;
pub mod symmetry;
