//! Miner registration rules (Kaleido §2.2, §3.2, §3.3, §3.5, fixes for B2 and B5).
//!
//! These are protocol rules, so they live here; reading them out of the miner
//! contract's storage is the execution layer's job (`actors::execution::miner`).
//!
//! - A registration for interval `k = start / I` covers `[start, (k+1)·I)` (§2.2).
//! - **Validation** (Kaleido does none, §3.2 / B2): `1 ≤ lifespan ≤ MAX_LIFESPAN`,
//!   both public keys decode (Ristretto VRF key, non-weak ed25519 key), and the start
//!   is in Kaleido's window `block + MIN_START_DELAY ≤ start ≤ block + I` and not in
//!   an interval that has already ended.
//! - **Carry-over** (fix for B5): a miner registered for interval `k` and not
//!   re-registered (with a start already reached) in interval `k+1` stays eligible
//!   through interval `k+1` with the same keys. Key files therefore hold sub-keys up
//!   to the end of the following interval ([`key_end`]). An interval boundary with
//!   no new registration therefore does not leave the chain without miners.
//! - **Lookback** (fix for W5): the stake used at height `h` is read from the state
//!   after block [`stake_sample_block`]`(h, L)` = `h − 1 − L` (clamped at genesis).
//!   Because a registration at block `b` needs `start ≥ b + MIN_START_DELAY`, the set
//!   of miners eligible at `h` is final in that state whenever `L < MIN_START_DELAY`.

use crate::types::Height;
use thiserror::Error;

/// Largest lifespan (heights per forward-secure sub-key), Kaleido's `MaxLifespan`.
pub const MAX_LIFESPAN: u64 = 100;
/// Kaleido's `DefaultLifespan`.
pub const DEFAULT_LIFESPAN: u64 = 100;
/// A registration must be sent at least this many blocks before its start (§3.2).
pub const MIN_START_DELAY: u64 = 100;

/// What the miner contract stores for one miner and interval (§2.5, §3.2).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Registration {
    /// First height the miner may vote at.
    pub start: Height,
    /// Heights per forward-secure sub-key.
    pub lifespan: u32,
    /// Where this miner's block rewards are paid when it proposes.
    pub coinbase: [u8; 20],
    /// VRF public key ("vrfVerifier").
    pub vrf_pk: [u8; 32],
    /// Forward-secure master public key ("voteVerifier").
    pub vote_pk: [u8; 32],
}

impl Registration {
    /// Whether the slot holds a registration (Kaleido: `start ≠ 0`).
    pub fn is_set(&self) -> bool {
        self.start != 0
    }
}

/// Why a registration is refused (the contract's `set` then returns false).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationError {
    /// `start` is zero.
    #[error("start must be at least 1")]
    ZeroStart,
    /// `lifespan` is 0 or above [`MAX_LIFESPAN`] (Kaleido B2).
    #[error("lifespan {0} is outside 1..={MAX_LIFESPAN}")]
    BadLifespan(u64),
    /// The VRF public key does not decode.
    #[error("malformed VRF public key")]
    BadVrfKey,
    /// The vote master key does not decode or is weak.
    #[error("malformed vote public key")]
    BadVoteKey,
    /// `start` is outside `[block + MIN_START_DELAY, block + interval]`, or its
    /// interval has ended.
    #[error("start {start} is outside the window allowed at block {block}")]
    StartOutsideWindow {
        /// Requested start.
        start: Height,
        /// Block the registration executes in.
        block: Height,
    },
    /// The miner already registered another start in this interval.
    #[error("already registered with start {0} in this interval")]
    StartChanged(Height),
    /// The interval size is zero.
    #[error("interval size is zero")]
    ZeroInterval,
}

/// Most miners one interval's list holds: a new registration past it is
/// refused under [`RegistrationLimits`] (and a registry read stops there).
pub const MAX_MINERS_PER_INTERVAL: u64 = 100_000;

/// kalgo's limits on new registrations, when the chain schedules them (against
/// registry sybils: Kaleido let any sender, or a factory contract many times
/// per transaction, append to the list every block reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistrationLimits {
    /// First block they apply to.
    pub from: Height,
    /// Least stake of the registering stake owner.
    pub min_stake: u128,
    /// Most new registrations in one block.
    pub per_block: u64,
}

/// What the miner contract read for one new registration (not an update of
/// the sender's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewRegistration {
    /// Whether the caller is the transaction's signer (not a contract).
    pub by_signer: bool,
    /// The stake owner's stake.
    pub stake: u128,
    /// New registrations already in this block.
    pub in_block: u64,
    /// Miners already listed for the registration's interval.
    pub listed: u64,
}

/// Why a new registration is refused under [`RegistrationLimits`] (`set`
/// returns false and writes nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum LimitRefusal {
    /// The caller is not the transaction's signer (a contract).
    #[error("registrations must come from the stake owner's own transaction")]
    NotTheSigner,
    /// The stake owner's stake is below the minimum.
    #[error("stake below the chain's minimum")]
    StakeTooLow,
    /// The block already holds its most new registrations.
    #[error("the block's registrations are full")]
    BlockFull,
    /// The interval's list is full ([`MAX_MINERS_PER_INTERVAL`]).
    #[error("the interval's miner list is full")]
    IntervalFull,
}

impl RegistrationLimits {
    /// Whether the limits apply to a registration executed in `block`.
    pub fn apply_at(&self, block: Height) -> bool {
        block >= self.from
    }

    /// Admits or refuses a new registration.
    pub fn admit(&self, new: &NewRegistration) -> Result<(), LimitRefusal> {
        if !new.by_signer {
            return Err(LimitRefusal::NotTheSigner);
        }
        if new.stake < self.min_stake {
            return Err(LimitRefusal::StakeTooLow);
        }
        if new.in_block >= self.per_block {
            return Err(LimitRefusal::BlockFull);
        }
        if new.listed >= MAX_MINERS_PER_INTERVAL {
            return Err(LimitRefusal::IntervalFull);
        }
        Ok(())
    }
}

/// The interval number of `height` (`height / I`).
pub fn interval_of(height: Height, interval: u64) -> Result<u64, RegistrationError> {
    height
        .checked_div(interval)
        .ok_or(RegistrationError::ZeroInterval)
}

/// One past the last height of the interval containing `height`: `(h/I + 1)·I`.
pub fn interval_end(height: Height, interval: u64) -> Result<Height, RegistrationError> {
    Ok(interval_of(height, interval)?
        .saturating_add(1)
        .saturating_mul(interval))
}

/// One past the last height a key generated for `start` must sign for: the end of
/// the following interval (carry-over, see the module docs).
pub fn key_end(start: Height, interval: u64) -> Result<Height, RegistrationError> {
    Ok(interval_end(start, interval)?.saturating_add(interval))
}

/// Checks the lifespan and both keys (the parts a key generator controls).
pub fn validate_keys(
    lifespan: u64,
    vrf_pk: &[u8; 32],
    vote_pk: &[u8; 32],
) -> Result<(), RegistrationError> {
    if lifespan == 0 || lifespan > MAX_LIFESPAN {
        return Err(RegistrationError::BadLifespan(lifespan));
    }
    schnorrkel::PublicKey::from_bytes(vrf_pk).map_err(|_| RegistrationError::BadVrfKey)?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(vote_pk)
        .map_err(|_| RegistrationError::BadVoteKey)?;
    if vk.is_weak() {
        return Err(RegistrationError::BadVoteKey);
    }
    Ok(())
}

/// Validates `set(reg)` executed in block `block` when the slot already holds
/// `existing` (§3.2 rules plus the checks Kaleido lacks).
pub fn validate_registration(
    block: Height,
    reg: &Registration,
    existing: &Registration,
    interval: u64,
) -> Result<(), RegistrationError> {
    if reg.start == 0 {
        return Err(RegistrationError::ZeroStart);
    }
    validate_keys(u64::from(reg.lifespan), &reg.vrf_pk, &reg.vote_pk)?;
    let outside = RegistrationError::StartOutsideWindow {
        start: reg.start,
        block,
    };
    if reg.start < block.saturating_add(MIN_START_DELAY)
        || reg.start > block.saturating_add(interval)
        || block >= interval_end(reg.start, interval)?
    {
        return Err(outside);
    }
    if existing.is_set() && existing.start != reg.start {
        return Err(RegistrationError::StartChanged(existing.start));
    }
    Ok(())
}

/// The registration in force at `height`, given the miner's entries for
/// `interval_of(height)` (`current`) and the interval before (`previous`): the
/// current one once its start is reached, otherwise the previous one (carry-over).
pub fn effective_registration(
    height: Height,
    current: &Registration,
    previous: &Registration,
) -> Option<Registration> {
    if current.is_set() && current.start <= height {
        Some(*current)
    } else if previous.is_set() && previous.start <= height {
        Some(*previous)
    } else {
        None
    }
}

/// The block whose post-state gives stakes and registrations for height `h` with
/// lookback `lookback`: `h − 1 − lookback`, clamped at genesis.
pub fn stake_sample_block(height: Height, lookback: u64) -> Height {
    height.saturating_sub(1).saturating_sub(lookback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::VoteSigner;
    use crate::crypto::VrfProver;

    #[test]
    fn registration_limits_table() {
        let limits = RegistrationLimits {
            from: 10,
            min_stake: 100,
            per_block: 2,
        };
        assert!(!limits.apply_at(9) && limits.apply_at(10));
        let ok = NewRegistration {
            by_signer: true,
            stake: 100,
            in_block: 1,
            listed: MAX_MINERS_PER_INTERVAL - 1,
        };
        let cases = [
            (ok, Ok(())),
            (
                NewRegistration {
                    by_signer: false,
                    ..ok
                },
                Err(LimitRefusal::NotTheSigner),
            ),
            (
                NewRegistration { stake: 99, ..ok },
                Err(LimitRefusal::StakeTooLow),
            ),
            (
                NewRegistration { in_block: 2, ..ok },
                Err(LimitRefusal::BlockFull),
            ),
            (
                NewRegistration {
                    listed: MAX_MINERS_PER_INTERVAL,
                    ..ok
                },
                Err(LimitRefusal::IntervalFull),
            ),
        ];
        for (new, want) in cases {
            assert_eq!(limits.admit(&new), want, "{new:?}");
        }
    }
    use crate::crypto::real::{FsKeySet, SchnorrkelVrfKey};
    use rand_core::SeedableRng;

    fn reg(start: u64, lifespan: u32) -> Registration {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let vrf = SchnorrkelVrfKey::generate(&mut rng).map(|k| k.vrf_public());
        let fs = FsKeySet::generate(&mut rng, 1, 0, 1).map(|k| k.master_public());
        Registration {
            start,
            lifespan,
            coinbase: [1; 20],
            vrf_pk: vrf.unwrap_or_default(),
            vote_pk: fs.unwrap_or_default(),
        }
    }

    #[test]
    fn validation_rejects_what_kaleido_accepts() {
        let none = Registration::default();
        let i = 1_000_000;
        assert_eq!(validate_registration(0, &reg(200, 100), &none, i), Ok(()));
        assert_eq!(
            validate_registration(0, &reg(200, 0), &none, i),
            Err(RegistrationError::BadLifespan(0))
        );
        assert_eq!(
            validate_registration(0, &reg(200, 101), &none, i),
            Err(RegistrationError::BadLifespan(101))
        );
        let bad_vote = Registration {
            vote_pk: [0; 32],
            ..reg(200, 100)
        };
        assert_eq!(
            validate_registration(0, &bad_vote, &none, i),
            Err(RegistrationError::BadVoteKey)
        );
        let mut bad_vrf = reg(200, 100);
        bad_vrf.vrf_pk = [0xff; 32];
        assert_eq!(
            validate_registration(0, &bad_vrf, &none, i),
            Err(RegistrationError::BadVrfKey)
        );
        assert!(validate_registration(150, &reg(200, 100), &none, i).is_err());
        assert!(validate_registration(0, &reg(i + 1, 100), &none, i).is_err());
        assert_eq!(
            validate_registration(0, &reg(300, 100), &reg(200, 100), i),
            Err(RegistrationError::StartChanged(200))
        );
        assert_eq!(
            validate_registration(0, &reg(0, 100), &none, i),
            Err(RegistrationError::ZeroStart)
        );
        assert_eq!(interval_of(5, 0), Err(RegistrationError::ZeroInterval));
    }

    #[test]
    fn carry_over_keeps_miners_across_an_empty_boundary() {
        let old = reg(1, 100);
        let none = Registration::default();
        // Interval 1 has no registration: the interval-0 miner is carried over.
        assert_eq!(effective_registration(1_000_000, &none, &old), Some(old));
        // A new registration takes over from its start, not before.
        let new = reg(1_000_500, 100);
        assert_eq!(effective_registration(1_000_499, &new, &old), Some(old));
        assert_eq!(effective_registration(1_000_500, &new, &old), Some(new));
        assert_eq!(effective_registration(0, &old, &none), None);
        assert_eq!(key_end(1, 1_000_000), Ok(2_000_000));
        assert_eq!(stake_sample_block(10, 3), 6);
        assert_eq!(stake_sample_block(2, 3), 0);
    }
}
