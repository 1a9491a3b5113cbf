//! Consensus: hosting spec's BA* machine (ARCHITECTURE.md "actors — consensus").
//!
//! - [`committee`]: the committee of a height ([`committee::Registry`]), read from
//!   committed state ([`committee::StoreRegistry`]);
//! - [`keys`]: where the host's signing keys come from ([`keys::KeySource`]) and
//!   forward security as heads are committed;
//! - [`blocks`]: the EVM block as spec's driver sees it (exact decoding, framing);
//! - [`host`]: I/O around spec's driver (`spec::driver`, where screening,
//!   pairing, voting, timers and certificates are decided) — a plain struct the
//!   consensus actor drives;
//! - [`views`]: read-only views (committee of a height, a stored certificate's
//!   voters and weights) for the `consensus_*` RPC methods;
//! - [`synced_block`]: checking a block received by catch-up sync (its certificate
//!   against the parent's committee) before it is executed and committed.

pub mod blocks;
pub mod committee;
pub mod host;
pub mod keys;
pub mod synced_block;
pub mod views;

#[cfg(test)]
mod tests;

use crate::execution::chain_config::{ChainConfig, CommitteeMode as ConfigMode};
use spec::params::{CommitteeMode, FilterTimeout, Params};

/// The protocol parameters of a chain config (`config.algorand`, Kaleido §6.3):
/// 2λ, total weight, interval size, sub-key lifespan, committee mode and round 1's
/// filter timer (`dynamicFilterTimeout`, `filterTimeoutMin`) over the new-chain
/// defaults.
pub fn params_from_config(config: &ChainConfig) -> Params {
    let mut p = Params::new_chain(config.chain_id());
    if let Some(a) = &config.algorand {
        p.two_lambda_ms = a.timeout_two_lambda;
        p.total_weight = a.total_weight;
        p.interval_size = a.interval_size;
        p.lifespan = a.lifespan;
        p.mode = match a.committee_mode {
            ConfigMode::Sortition => CommitteeMode::Sortition,
            ConfigMode::Fixed => CommitteeMode::FIXED_TWO_THIRDS,
        };
        p.filter_timeout = match a.dynamic_filter_timeout {
            true => FilterTimeout::Dynamic {
                min_ms: a.filter_timeout_min_ms(),
            },
            false => FilterTimeout::Fixed,
        };
    }
    p
}
