//! Who may propose and vote at a height (Kaleido §3.3–3.6): every eligible
//! miner's [`MinerRecord`], the reward address each registered, the total stake
//! and the parent's seed (§4.4).
//!
//! The host reads it from committed state (the miner contract and balances of
//! the stake sample block) and hands it to the driver with every new height;
//! nothing in a message can change it.

use std::collections::BTreeMap;

use crate::auth::{MinerRecord, reward_address};
use crate::types::MinerId;

/// The committee of one height.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Roster {
    /// Every eligible miner's keys and stake.
    pub miners: BTreeMap<MinerId, MinerRecord>,
    /// The reward address each miner registered, where it registered one.
    pub coinbases: BTreeMap<MinerId, [u8; 20]>,
    /// The stake of every eligible miner together.
    pub total_stake: u128,
    /// The parent block's seed: sortition's input at this height.
    pub seed: [u8; 32],
}

impl Roster {
    /// A miner's record, if it is eligible here.
    pub fn record(&self, id: &MinerId) -> Option<MinerRecord> {
        self.miners.get(id).copied()
    }

    /// The reward address a miner registered, if any.
    pub fn registered_coinbase(&self, id: &MinerId) -> Option<[u8; 20]> {
        self.coinbases.get(id).copied()
    }

    /// Where a miner's block reward goes ([`reward_address`]).
    pub fn reward_address(&self, id: &MinerId) -> [u8; 20] {
        reward_address(id, self.registered_coinbase(id))
    }
}
