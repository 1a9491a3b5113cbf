//! # spec — kalgo's BA* protocol
//!
//! The protocol is written once, here, as a pure and deterministic state machine
//! (see `ARCHITECTURE.md`). The same code is explored by the model checker, driven
//! by the fuzzers and the seeded simulator, and hosted by the node's consensus actor.
//!
//! This crate has no async runtime, network, database, clock, thread or EVM
//! dependency: time and randomness arrive as inputs, so a run is a pure function of
//! its inputs.
//!
//! Modules, by what they own:
//! - [`params`]: every protocol constant, in one [`params::Params`] value.
//! - [`types`]: height, round, step, value, miner identity.
//! - [`codec`]: the one canonical, bounded binary encoding.
//! - [`crypto`]: VRF and forward-secure vote signatures behind small traits (real and mock).
//! - [`sortition`]: stake → weight, binomial seat selection, priority, seed.
//! - [`auth`]: signing votes and proposals, and authenticating them (single and batched).
//! - [`certificate`]: building a certificate from a cert quorum and verifying one against its header.
//! - [`keeper`]: vote counting per (round, step, value), equivocation evidence.
//! - [`machine`]: the BA* round/step machine, `step(now, input) -> outputs`.
//! - [`invariants`]: safety predicates, written independently of the machine.
//! - [`driver`]: everything between the wire and the machine, as one serialized step.
//! - [`cluster`]: N drivers with mock keys and plain blocks, hosted in process and
//!   observed for the invariants (what the simulator, the schedule and the driver
//!   tests share).
//! - [`sim`]: an in-process, seeded network simulator over a cluster of drivers.
//! - [`schedule`]: a byte-driven adversarial schedule over a cluster of four
//!   drivers (fuzzing).

pub mod absence;
pub mod auth;
pub mod certificate;
pub mod cluster;
pub mod codec;
pub mod crypto;
pub mod driver;
pub mod evidence;
pub mod invariants;
pub mod keeper;
pub mod machine;
pub mod monitor;
pub mod params;
pub mod registration;
pub mod roster;
pub mod schedule;
pub mod sim;
pub mod sortition;
pub mod types;
