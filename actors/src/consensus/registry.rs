//! Who may propose and vote at a height (Kaleido §3.3–3.6): the committee of the
//! parent state — every eligible miner's [`MinerRecord`] (keys and stake), the total
//! stake and the parent's seed (§4.4).
//!
//! **Temporary.** [`GenesisRegistry`] is a stand-in: stakes are the genesis balances
//! of the miners' stake-owner addresses and keys come from the node's configuration,
//! the same committee at every height. The miner contract and its registry (being
//! built on another branch: `makeminerkey`, `kalgo genesis`, the `MinerKey` calldata)
//! will implement [`Registry`] over the parent state and replace it.

use std::collections::BTreeMap;

use alloy_primitives::Address;
use spec::auth::MinerRecord;
use spec::params::{Params, Thresholds};
use spec::types::{Height, MinerId};

use crate::execution::{genesis::Genesis, header::KalgoHeader};

/// Why a committee could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// No miner is eligible: the chain cannot make progress.
    #[error("no eligible miner at height {0}")]
    Empty(Height),
}

/// The committee of one height, read from its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    /// Eligible miners.
    pub miners: BTreeMap<MinerId, MinerRecord>,
    /// Sum of their stakes (Kaleido's TBM of the parent).
    pub total_stake: u128,
    /// The parent's seed.
    pub seed: [u8; 32],
}

impl Committee {
    /// A miner's record.
    pub fn record(&self, id: &MinerId) -> Option<MinerRecord> {
        self.miners.get(id).copied()
    }

    /// Quorum thresholds at this height (`Params::stake_thresholds`).
    pub fn thresholds(&self, params: &Params) -> Thresholds {
        params.stake_thresholds()
    }
}

/// The source of committees.
pub trait Registry {
    /// The committee of `height`, whose parent is `parent`.
    fn committee(&self, height: Height, parent: &KalgoHeader) -> Result<Committee, RegistryError>;
}

/// A miner's public keys as the registry knows them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MinerPublicKeys {
    /// Identity (stake owner).
    pub id: MinerId,
    /// VRF public key.
    pub vrf_pk: [u8; 32],
    /// Forward-secure master public key.
    pub vote_master_pk: [u8; 32],
}

/// Temporary registry over genesis (see the module docs).
#[derive(Clone, Debug)]
pub struct GenesisRegistry {
    miners: BTreeMap<MinerId, MinerRecord>,
    total: u128,
}

impl GenesisRegistry {
    /// Stakes are the genesis balances of each miner's address (saturating to u128);
    /// miners without balance are not eligible.
    pub fn new(genesis: &Genesis, keys: &[MinerPublicKeys]) -> Self {
        let mut miners = BTreeMap::new();
        for k in keys {
            let stake = genesis
                .alloc
                .get(&Address::from(k.id.0))
                .map(|a| u128::try_from(a.balance).unwrap_or(u128::MAX))
                .unwrap_or(0);
            if stake > 0 {
                miners.insert(
                    k.id,
                    MinerRecord {
                        vrf_pk: k.vrf_pk,
                        vote_master_pk: k.vote_master_pk,
                        stake,
                    },
                );
            }
        }
        let total = miners
            .values()
            .fold(0u128, |t, r| t.saturating_add(r.stake));
        Self { miners, total }
    }

    /// Number of eligible miners.
    pub fn len(&self) -> usize {
        self.miners.len()
    }

    /// Whether no miner is eligible.
    pub fn is_empty(&self) -> bool {
        self.miners.is_empty()
    }
}

impl Registry for GenesisRegistry {
    fn committee(&self, height: Height, parent: &KalgoHeader) -> Result<Committee, RegistryError> {
        if self.miners.is_empty() {
            return Err(RegistryError::Empty(height));
        }
        Ok(Committee {
            miners: self.miners.clone(),
            total_stake: self.total,
            seed: parent.seed.0,
        })
    }
}
