//! The miner system contract (Kaleido §3.1–§3.3): registration of mining keys and
//! the registry consensus reads.
//!
//! - [`abi`]: Kaleido's ABI (`set`, `setCoinbase`, `get`, …, events `Added`,
//!   `Updated`) with `alloy-sol-types`, and the `MinerKey` calldata (§2.4);
//! - [`layout`]: the storage layout (§2.5, §3.2) and the genesis slots;
//! - [`contract`]: the contract itself, executed by revm as a stateful precompile
//!   at [`MINER_CONTRACT`] ([`contract::KalgoPrecompiles`]);
//! - [`snapshot`]: what consensus calls: the miners eligible at a height with their
//!   keys and stakes, and their total stake (Kaleido's `totalBalanceOfMiners`).
//!
//! The rules (validation, carry-over across an interval boundary, lookback) are
//! `spec::registration`'s; this module only stores and reads them.

pub mod abi;
pub mod contract;
pub mod layout;
pub mod snapshot;

use alloy_primitives::{Address, address};

/// The miner contract's address (Kaleido `contracts/system.go`).
pub const MINER_CONTRACT: Address = address!("1000000000000000000000000000000000000002");

/// Code stored at [`MINER_CONTRACT`]: one `INVALID` byte. The account must not be
/// empty (EIP-161 would delete it with its storage); calls never run this code
/// because revm dispatches them to the precompile first.
pub const MINER_CONTRACT_CODE: [u8; 1] = [0xfe];
