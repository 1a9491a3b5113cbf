//! The miner keys the consensus host signs with (Kaleido §2.2 "forward security in
//! operation"). The host does not own key files: a [`KeySource`] holds the keys of
//! one miner (possibly several, one per registration interval), forgets the
//! sub-keys of heights already passed when a head is committed, and hands out the
//! keys whose public keys are the ones the registry holds for the height.

use spec::auth::{MinerKeys, MinerRecord, RealMinerKeys};
use spec::crypto::real::{FsKeySet, SchnorrkelVrfKey};
use spec::crypto::{VoteSigner, VrfProver};
use spec::driver::Keyring;
use spec::types::{Height, MinerId};

/// Why the keys could not be advanced (the node keeps running; it is logged).
#[derive(Debug, thiserror::Error)]
#[error("miner keys: {0}")]
pub struct KeySourceError(pub String);

/// Where the host's signing keys come from.
pub trait KeySource: Send {
    /// The miner identity (stake owner).
    fn id(&self) -> MinerId;

    /// Block `head` is committed (or is the stored head at start): erase every
    /// sub-key for heights already passed (offsets below `head / lifespan`), from
    /// memory and from any file, and drop keys that can no longer sign.
    fn advance(&mut self, head: Height) -> Result<(), KeySourceError>;

    /// The keys that can sign at `height` (their sub-key for it is still there)
    /// and whose public keys are `record`'s (the registration in force there), if
    /// this miner holds them.
    fn keys_for(&self, height: Height, record: &MinerRecord) -> Option<&RealMinerKeys>;

    /// The heights each loaded key can still sign: `[start, end)` per key (for
    /// status reports; empty if unknown).
    fn key_spans(&self) -> Vec<(Height, Height)> {
        Vec::new()
    }
}

/// Whether `keys` are the keys registered as `record`.
pub fn matches(keys: &RealMinerKeys, record: &MinerRecord) -> bool {
    keys.vrf.vrf_public() == record.vrf_pk && keys.votes.master_public() == record.vote_master_pk
}

/// Whether `keys` still hold the sub-key of `height` (`height / lifespan`).
pub fn can_sign(keys: &RealMinerKeys, height: Height, lifespan: u64) -> bool {
    height
        .checked_div(lifespan)
        .is_some_and(|o| keys.votes.first_offset() <= o && o < keys.votes.end_offset())
}

/// Keys held in memory only (tests, tools): one key set, erased as heads advance.
pub struct MemoryKeys {
    keys: RealMinerKeys,
    lifespan: u64,
}

impl MemoryKeys {
    /// Wraps `keys` whose sub-keys each cover `lifespan` heights.
    pub fn new(keys: RealMinerKeys, lifespan: u64) -> Self {
        Self { keys, lifespan }
    }

    /// The keys (with what is left of their sub-keys).
    pub fn keys(&self) -> &RealMinerKeys {
        &self.keys
    }
}

impl KeySource for MemoryKeys {
    fn id(&self) -> MinerId {
        self.keys.id
    }

    fn advance(&mut self, head: Height) -> Result<(), KeySourceError> {
        if let Some(offset) = head.checked_div(self.lifespan) {
            self.keys.votes.erase_before(offset);
        }
        Ok(())
    }

    fn keys_for(&self, height: Height, record: &MinerRecord) -> Option<&RealMinerKeys> {
        (matches(&self.keys, record) && can_sign(&self.keys, height, self.lifespan))
            .then_some(&self.keys)
    }

    fn key_spans(&self) -> Vec<(Height, Height)> {
        let v = &self.keys.votes;
        vec![(
            v.first_offset().saturating_mul(self.lifespan),
            v.end_offset().saturating_mul(self.lifespan),
        )]
    }
}

/// The miner's key source as the driver's keyring.
pub struct HostKeys(pub Box<dyn KeySource>);

impl Keyring<SchnorrkelVrfKey, FsKeySet> for HostKeys {
    fn id(&self) -> MinerId {
        self.0.id()
    }

    fn keys_for(
        &self,
        height: Height,
        record: &MinerRecord,
    ) -> Option<&MinerKeys<SchnorrkelVrfKey, FsKeySet>> {
        self.0.keys_for(height, record)
    }
}
