//! Who may propose and vote at a height (Kaleido §3.3–3.6): the committee of a
//! height — every eligible miner's [`MinerRecord`] (keys and stake), the total
//! stake and the parent's seed (§4.4).
//!
//! [`StoreRegistry`] reads it from **committed** state only, never from a message:
//! the miners, their keys and stakes of height `h` come from the miner contract and
//! balances in the state after block `s = spec::registration::stake_sample_block(h, L)`
//! (`L` = the chain's stake lookback), through
//! [`registry_snapshot`](crate::execution::miner::snapshot::registry_snapshot), which
//! applies spec's carry-over rule across interval boundaries. When `s` is the head,
//! the head's flat tables are read; otherwise the state of block `s` is read through
//! its stored tries (nodes are never pruned). The committee of `h` is asked for only
//! once its parent `h − 1` is committed (the host asks at start, on the stored head,
//! and in `HostCore::on_committed`), and `s ≤ h − 1`, so the state is always there.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};
use spec::auth::{MinerRecord, reward_address};
use spec::params::{Params, Thresholds};
use spec::registration::stake_sample_block;
use spec::types::{Height, MinerId};

use crate::execution::{
    header::KalgoHeader,
    miner::snapshot::{RegistrySnapshot, registry_snapshot},
    service::read_header,
    state::StateReader,
};
use crate::storage::{ChainReader, state_at::StateAt};

/// Why a committee could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    /// No miner is eligible: the chain cannot make progress.
    #[error("no eligible miner at height {0}")]
    Empty(Height),
    /// The committed state could not be read.
    #[error("registry of height {height}: {reason}")]
    Storage {
        /// The height asked for.
        height: Height,
        /// The storage failure.
        reason: String,
    },
    /// The miners' total stake read from the state differs from the total the
    /// sampled block's header commits to (`total_balance_of_miners`).
    #[error(
        "registry of height {height}: total stake {read} differs from header {sample}'s {header}"
    )]
    TotalMismatch {
        /// The height asked for.
        height: Height,
        /// The sampled block.
        sample: Height,
        /// What the state gives.
        read: u128,
        /// What the header says.
        header: U256,
    },
}

/// The committee of one height, read from committed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    /// Eligible miners.
    pub miners: BTreeMap<MinerId, MinerRecord>,
    /// Where each eligible miner's block rewards go (its registered coinbase,
    /// `makeminerkey --minerkey.coinbase`).
    pub coinbases: BTreeMap<MinerId, Address>,
    /// Sum of their stakes (Kaleido's TBM of the sampled block).
    pub total_stake: u128,
    /// The parent's seed.
    pub seed: [u8; 32],
    /// Registered miners an equivocation suspension keeps out of this
    /// height, with the suspension's last height (not members).
    pub suspended: BTreeMap<MinerId, Height>,
    /// Registered miners an absence mark keeps out of this height
    /// (`spec::absence`), with the block that marked them (not members).
    pub absent: BTreeMap<MinerId, Height>,
}

impl Committee {
    /// The record of miner `id`, if it is eligible at this height.
    pub fn record(&self, id: &MinerId) -> Option<MinerRecord> {
        self.miners.get(id).copied()
    }

    /// Where a miner's block rewards go ([`spec::auth::reward_address`]).
    pub fn coinbase(&self, id: &MinerId) -> Address {
        Address::from(reward_address(id, self.registered_coinbase(id)))
    }

    /// The coinbase a miner registered, if any.
    pub fn registered_coinbase(&self, id: &MinerId) -> Option<[u8; 20]> {
        self.coinbases.get(id).map(|a| a.0.0)
    }

    /// The committee as spec's driver takes it.
    pub fn roster(&self) -> spec::roster::Roster {
        spec::roster::Roster {
            miners: self.miners.clone(),
            coinbases: self.coinbases.iter().map(|(id, a)| (*id, a.0.0)).collect(),
            total_stake: self.total_stake,
            seed: self.seed,
        }
    }

    /// Quorum thresholds at this height (`Params::stake_thresholds`).
    pub fn thresholds(&self, params: &Params) -> Thresholds {
        params.stake_thresholds()
    }

    /// The committee of `snapshot` with the parent's `seed`; an empty snapshot is
    /// [`RegistryError::Empty`].
    pub fn from_snapshot(
        height: Height,
        snapshot: &RegistrySnapshot,
        seed: [u8; 32],
    ) -> Result<Self, RegistryError> {
        if snapshot.miners.is_empty() || snapshot.total_stake == 0 {
            return Err(RegistryError::Empty(height));
        }
        Ok(Committee {
            miners: snapshot
                .miners
                .iter()
                .map(|(id, m)| (*id, m.record))
                .collect(),
            coinbases: snapshot
                .miners
                .iter()
                .map(|(id, m)| (*id, m.coinbase))
                .collect(),
            total_stake: snapshot.total_stake,
            seed,
            suspended: snapshot.suspended.clone(),
            absent: snapshot.absent.clone(),
        })
    }
}

/// The source of committees.
pub trait Registry {
    /// The committee of `height`, whose parent `parent` is committed.
    fn committee(&self, height: Height, parent: &KalgoHeader) -> Result<Committee, RegistryError>;
}

/// The registry over a node's chain database (see the module docs). It holds its own
/// read handle on the database the execution resource writes.
#[derive(Clone, Debug)]
pub struct StoreRegistry {
    chain: ChainReader,
    interval: u64,
    lookback: u64,
}

impl StoreRegistry {
    /// A registry reading through `chain` for a chain with this registration `interval` and
    /// stake `lookback` (`ChainConfig::miner_contract`, `ChainConfig::stake_lookback`).
    pub fn new(chain: ChainReader, interval: u64, lookback: u64) -> Self {
        Self {
            chain,
            interval,
            lookback,
        }
    }

    /// The registry snapshot of `height`: miners, keys and stakes from the state
    /// after its sampled block, which must be committed (at most `parent`).
    pub fn snapshot(
        &self,
        height: Height,
        parent: &KalgoHeader,
    ) -> Result<(Height, KalgoHeader, RegistrySnapshot), RegistryError> {
        let fail = |e: &dyn std::fmt::Display| RegistryError::Storage {
            height,
            reason: e.to_string(),
        };
        let sample = stake_sample_block(height, self.lookback);
        let header = if sample == parent.number() {
            parent.clone()
        } else if sample < parent.number() {
            read_header(&self.chain, sample).map_err(|e| fail(&e))?
        } else {
            return Err(fail(&format!(
                "sampled block {sample} is after the parent {}",
                parent.number()
            )));
        };
        let root = header.eth.state_root;
        let head = self.chain.state().map_err(|e| fail(&e))?;
        let snapshot = if head.state_root().map_err(|e| fail(&e))? == root {
            registry_snapshot(&head, height, self.interval)
        } else {
            let past = StateAt::open(&head, root).map_err(|e| fail(&e))?;
            registry_snapshot(&past, height, self.interval)
        }
        .map_err(|e| fail(&e))?;
        Ok((sample, header, snapshot))
    }
}

impl Registry for StoreRegistry {
    fn committee(&self, height: Height, parent: &KalgoHeader) -> Result<Committee, RegistryError> {
        let (sample, header, snapshot) = self.snapshot(height, parent)?;
        // Block `s` committed to the total of height `s + 1 + L` (Kaleido §3.5 with
        // the lookback); genesis declares its total instead, so it is not checked.
        if sample > 0
            && sample + 1 + self.lookback == height
            && header.total_balance_of_miners != U256::from(snapshot.total_stake)
        {
            return Err(RegistryError::TotalMismatch {
                height,
                sample,
                read: snapshot.total_stake,
                header: header.total_balance_of_miners,
            });
        }
        Committee::from_snapshot(height, &snapshot, parent.seed.0)
    }
}
