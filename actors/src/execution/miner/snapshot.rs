//! The miner registry as consensus reads it (Kaleido §3.3–§3.6), from a committed
//! state — never from a message.
//!
//! For height `h`, consensus takes the state after block
//! `spec::registration::stake_sample_block(h, lookback)` and calls [`miner_registry`]
//! (who may vote, with keys and stake) and [`total_stake_of_miners`] (the total the
//! weights are normalised by). The header of that block carries the same total in
//! `total_balance_of_miners` (computed by block execution, see
//! [`header_total_stake`]), so a light client can check it.
//!
//! Stake is the account balance (Kaleido's Delegation term is not implemented:
//! there is no Delegation contract, which also avoids B6).

use alloy_primitives::{Address, U256};
use spec::{
    absence::{AbsenceRule, Liveness, MAX_ABSENT_MARKS_PER_BLOCK},
    auth::MinerRecord,
    registration::{Registration, effective_registration},
    types::{Height, MinerId},
};

use super::{
    MINER_CONTRACT,
    layout::{
        INTERVAL_MINERS_SLOT, Suspension, array_elem_slot, array_len_slot, liveness_slot,
        miner_base_slot, pack_liveness, suspension_slot, unpack, unpack_liveness,
        unpack_suspension,
    },
};
use crate::execution::state::{StateOverlay, StateReader, StorageError};

/// Most miners read per interval (bounds the work of a registry read; under
/// the registration limits no list grows past it).
pub use spec::registration::MAX_MINERS_PER_INTERVAL;

/// What consensus needs to read: storage slots and balances.
pub trait RegistryState {
    /// A storage slot of `address`.
    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StorageError>;
    /// The balance of `address` (zero if absent).
    fn balance(&self, address: &Address) -> Result<U256, StorageError>;
}

impl<S: StateReader + ?Sized> RegistryState for S {
    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        self.storage(address, slot)
    }
    fn balance(&self, address: &Address) -> Result<U256, StorageError> {
        Ok(self
            .account(address)?
            .map(|a| a.balance)
            .unwrap_or_default())
    }
}

/// A [`StateOverlay`] seen as a registry state (the post-state of a block being built).
pub struct OverlayView<'o, 'a, S: StateReader + ?Sized>(pub &'o StateOverlay<'a, S>);

impl<S: StateReader + ?Sized> RegistryState for OverlayView<'_, '_, S> {
    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        revm::DatabaseRef::storage_ref(self.0, *address, *slot)
    }
    fn balance(&self, address: &Address) -> Result<U256, StorageError> {
        Ok(self
            .0
            .account(address)?
            .map(|a| a.balance)
            .unwrap_or_default())
    }
}

/// One miner eligible at a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisteredMiner {
    /// The miner (stake owner, `msg.sender` of `set`).
    pub id: MinerId,
    /// Keys and stake, as `spec::auth` wants them.
    pub record: MinerRecord,
    /// Where its block rewards go.
    pub coinbase: Address,
    /// The registration in force (its start and lifespan).
    pub registration: Registration,
}

fn registration<S: RegistryState + ?Sized>(
    state: &S,
    sn: u64,
    miner: Address,
) -> Result<Registration, StorageError> {
    let base = miner_base_slot(sn, miner);
    let one = U256::from(1);
    Ok(unpack(
        state.slot(&MINER_CONTRACT, &base)?,
        state.slot(&MINER_CONTRACT, &base.wrapping_add(one))?,
        state.slot(&MINER_CONTRACT, &base.wrapping_add(one + one))?,
    ))
}

fn interval_miners<S: RegistryState + ?Sized>(
    state: &S,
    sn: u64,
) -> Result<Vec<Address>, StorageError> {
    let len_slot = array_len_slot(INTERVAL_MINERS_SLOT, sn);
    let len = state.slot(&MINER_CONTRACT, &len_slot)?;
    let len = u64::try_from(len)
        .unwrap_or(u64::MAX)
        .min(MAX_MINERS_PER_INTERVAL);
    (0..len)
        .map(|i| {
            let v = state.slot(&MINER_CONTRACT, &array_elem_slot(len_slot, i))?;
            Ok(Address::from_word(v.into()))
        })
        .collect()
}

/// The equivocation suspension of `miner` (`reportEquivocation`).
pub fn suspension<S: RegistryState + ?Sized>(
    state: &S,
    miner: Address,
) -> Result<Suspension, StorageError> {
    Ok(unpack_suspension(
        state.slot(&MINER_CONTRACT, &suspension_slot(miner))?,
    ))
}

/// The liveness record of `miner` (`spec::absence`: proposals, heartbeats,
/// absence marks).
pub fn liveness<S: RegistryState + ?Sized>(
    state: &S,
    miner: Address,
) -> Result<Liveness, StorageError> {
    Ok(unpack_liveness(
        state.slot(&MINER_CONTRACT, &liveness_slot(miner))?,
    ))
}

/// Block `number`'s liveness bookkeeping (`spec::absence`), after its
/// transactions and before its reward: its `proposer` is seen at `number`;
/// then, over the miners eligible at `number + 1 + lookback` with their
/// stakes at this point (the committee this block's header total is for):
/// - each one seen in this block (the proposer, or a `heartbeat()` sender)
///   gets its deadline, `number + bound`;
/// - each one `rule` finds silent for too long is marked absent, at most
///   [`MAX_ABSENT_MARKS_PER_BLOCK`] of them, lowest addresses first. A miner
///   back from an equivocation suspension counts from the suspension's end.
///
/// Does nothing on a chain whose miner contract account does not exist (no
/// registrations to keep). Returns the miners marked.
pub fn record_liveness<S: StateReader + ?Sized>(
    overlay: &mut StateOverlay<'_, S>,
    rule: &AbsenceRule,
    interval: u64,
    number: Height,
    proposer: Address,
) -> Result<Vec<Address>, StorageError> {
    if !rule.active(number) || overlay.account(&MINER_CONTRACT)?.is_none() {
        return Ok(Vec::new());
    }
    overlay.set_storage(
        MINER_CONTRACT,
        liveness_slot(proposer),
        pack_liveness(&Liveness::seen(number)),
    )?;
    let height = number.saturating_add(1).saturating_add(rule.lookback);
    let miners = miner_registry(&OverlayView(overlay), height, interval)?;
    let total = miners
        .iter()
        .fold(0u128, |t, m| t.saturating_add(m.record.stake));
    let mut writes = Vec::new();
    let mut marked = Vec::new();
    for m in &miners {
        let miner = Address::from(m.id.0);
        let view = OverlayView(&*overlay);
        let record = liveness(&view, miner)?;
        if record.last_seen == number && !record.is_absent() {
            if let Some(bound) = rule.bound(m.record.stake, total) {
                let deadline = number.saturating_add(bound);
                writes.push((miner, Liveness { deadline, ..record }));
            }
            continue;
        }
        if marked.len() >= MAX_ABSENT_MARKS_PER_BLOCK {
            continue;
        }
        let eligible_from = m.registration.start.max(suspension(&view, miner)?.until);
        if rule.marks_absent(number, &record, eligible_from, m.record.stake, total) {
            marked.push(miner);
            let absent = Liveness {
                absent_since: number,
                ..record
            };
            writes.push((miner, absent));
        }
    }
    for (miner, record) in writes {
        overlay.set_storage(MINER_CONTRACT, liveness_slot(miner), pack_liveness(&record))?;
    }
    Ok(marked)
}

/// The stake of `miner` (Kaleido §3.4 without Delegation): its balance, saturated
/// to `u128`.
pub fn stake<S: RegistryState + ?Sized>(state: &S, miner: &Address) -> Result<u128, StorageError> {
    let b = state.balance(miner)?;
    Ok(u128::try_from(b).unwrap_or(u128::MAX))
}

/// The miners eligible at `height`, sorted by address, with keys and stake read
/// from `state` (which must be the post-state of
/// `stake_sample_block(height, lookback)`). Carry-over across an interval boundary
/// follows `spec::registration::effective_registration`. Miners with zero stake are
/// left out (they could never be selected), and so are miners suspended for
/// equivocation through `height` (the suspension stored in `state`: it takes
/// effect from the first height whose stake sample block carries the evidence)
/// and miners marked absent in `state` (`spec::absence`).
pub fn miner_registry<S: RegistryState + ?Sized>(
    state: &S,
    height: Height,
    interval: u64,
) -> Result<Vec<RegisteredMiner>, StorageError> {
    registry_with_suspended(state, height, interval, None, None)
}

/// [`miner_registry`], also listing in `suspended` the registered miners with
/// stake that a suspension keeps out at `height`, with its last height, and in
/// `absent` those an absence mark keeps out, with the block that marked them.
fn registry_with_suspended<S: RegistryState + ?Sized>(
    state: &S,
    height: Height,
    interval: u64,
    mut suspended: Option<&mut std::collections::BTreeMap<MinerId, Height>>,
    mut absent: Option<&mut std::collections::BTreeMap<MinerId, Height>>,
) -> Result<Vec<RegisteredMiner>, StorageError> {
    let Some(sn) = height.checked_div(interval) else {
        return Ok(Vec::new());
    };
    let mut candidates = interval_miners(state, sn)?;
    if let Some(prev) = sn.checked_sub(1) {
        candidates.extend(interval_miners(state, prev)?);
    }
    candidates.sort();
    candidates.dedup();
    let mut out = Vec::with_capacity(candidates.len());
    for miner in candidates {
        let cur = registration(state, sn, miner)?;
        let prev = match sn.checked_sub(1) {
            Some(p) => registration(state, p, miner)?,
            None => Registration::default(),
        };
        let Some(reg) = effective_registration(height, &cur, &prev) else {
            continue;
        };
        let stake = stake(state, &miner)?;
        if stake == 0 {
            continue;
        }
        let suspension = suspension(state, miner)?;
        if suspension.excludes(height) {
            if let Some(out) = suspended.as_deref_mut() {
                out.insert(MinerId(miner.0.0), suspension.until);
            }
            continue;
        }
        let liveness = liveness(state, miner)?;
        if liveness.is_absent() {
            if let Some(out) = absent.as_deref_mut() {
                out.insert(MinerId(miner.0.0), liveness.absent_since);
            }
            continue;
        }
        out.push(RegisteredMiner {
            id: MinerId(miner.0.0),
            record: MinerRecord {
                vrf_pk: reg.vrf_pk,
                vote_master_pk: reg.vote_pk,
                stake,
            },
            coinbase: Address::from(reg.coinbase),
            registration: reg,
        });
    }
    Ok(out)
}

/// The total stake of the miners eligible at `height` (Kaleido's TBM), read from
/// the same state as [`miner_registry`]. Exact (no overflow: saturates at `u128::MAX`).
pub fn total_stake_of_miners<S: RegistryState + ?Sized>(
    state: &S,
    height: Height,
    interval: u64,
) -> Result<u128, StorageError> {
    Ok(miner_registry(state, height, interval)?
        .iter()
        .fold(0u128, |t, m| t.saturating_add(m.record.stake)))
}

/// The header's `total_balance_of_miners` for block `number` with `lookback`: the
/// total stake of the miners eligible at `number + 1 + lookback`, read from the
/// post-state of `number` (for lookback 0 this is exactly Kaleido's TBM, §3.5).
pub fn header_total_stake<S: RegistryState + ?Sized>(
    post_state: &S,
    number: Height,
    lookback: u64,
    interval: u64,
) -> Result<U256, StorageError> {
    let h = number.saturating_add(1).saturating_add(lookback);
    Ok(U256::from(total_stake_of_miners(post_state, h, interval)?))
}

/// Everything consensus needs about the miners of one height: who, with which keys
/// and stake, and the total. Build it with [`registry_snapshot`] from the post-state
/// of `stake_sample_block(height, lookback)`: the head's flat tables when that
/// block is the head, otherwise the block's state read through the stored tries
/// ([`crate::storage::state_at::StateAt`]; nodes are never pruned). `actors::consensus::committee` does this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// The height the snapshot is for.
    pub height: Height,
    /// Eligible miners by identity.
    pub miners: std::collections::BTreeMap<MinerId, RegisteredMiner>,
    /// Their total stake (the `total_stake` of `spec::auth`).
    pub total_stake: u128,
    /// Registered miners with stake that an equivocation suspension keeps out
    /// of this height, with the suspension's last height.
    pub suspended: std::collections::BTreeMap<MinerId, Height>,
    /// Registered miners with stake that an absence mark keeps out of this
    /// height (`spec::absence`), with the block that marked them.
    pub absent: std::collections::BTreeMap<MinerId, Height>,
}

impl RegistrySnapshot {
    /// The registry record of `id` (the lookup `spec::auth::authenticate_vote_bytes` wants).
    pub fn record(&self, id: &MinerId) -> Option<MinerRecord> {
        self.miners.get(id).map(|m| m.record)
    }
}

/// Reads the [`RegistrySnapshot`] of `height` from `state`.
pub fn registry_snapshot<S: RegistryState + ?Sized>(
    state: &S,
    height: Height,
    interval: u64,
) -> Result<RegistrySnapshot, StorageError> {
    let mut suspended = std::collections::BTreeMap::new();
    let mut absent = std::collections::BTreeMap::new();
    let miners: std::collections::BTreeMap<MinerId, RegisteredMiner> = registry_with_suspended(
        state,
        height,
        interval,
        Some(&mut suspended),
        Some(&mut absent),
    )?
    .into_iter()
    .map(|m| (m.id, m))
    .collect();
    let total_stake = miners
        .values()
        .fold(0u128, |t, m| t.saturating_add(m.record.stake));
    Ok(RegistrySnapshot {
        height,
        miners,
        total_stake,
        suspended,
        absent,
    })
}
