//! The miner contract (Kaleido §3.2) as a stateful revm precompile.
//!
//! revm 43 dispatches every call whose code address is in the
//! [`PrecompileProvider`]'s set before loading code, with mutable access to the
//! context (journal: `sload`/`sstore`/`log`, block number). [`KalgoPrecompiles`] wraps
//! revm's [`EthPrecompiles`] and adds [`MINER_CONTRACT`]; the executor builds its EVM
//! with it. Journal checkpoints make a reverted call leave no trace.
//!
//! Behaviour follows Kaleido's bytecode, except that `set` **validates** its input
//! (`spec::registration::validate_registration`): a zero or too large lifespan, a
//! malformed key, or a start outside the window returns `false` and writes nothing
//! (Kaleido B2). Undecodable calldata, value transfers, writes in a static call and
//! `DELEGATECALL`/`CALLCODE` revert. Gas is a fixed price per function
//! ([`SET_GAS`], [`SET_COINBASE_GAS`], [`VIEW_GAS`]); too little gas halts the call.
//!
//! Other differences: the interval size is the chain config's (Kaleido hard-codes
//! 10^6 in the bytecode, §8.3); `isMinerOfHeight` answers with the carry-over rule of
//! `spec::registration::effective_registration` (so it agrees with what consensus uses);
//! `set` also appends the miner to `intervalMiners` (slot 2, see [`super::layout`]).
//!
//! kalgo's additions for equivocation penalties (from the chain config's
//! `equivocationRulesBlock`; before it, or without it, both selectors revert as
//! any unknown selector does, so old blocks execute as they did):
//! `reportEquivocation(first, second)` takes two wire-encoded votes, checks them
//! with `spec::evidence::check_equivocation` against the vote key the miner
//! registered for their height, and suspends the miner for heights `B + 1 + L`
//! to `B + equivocationSuspension` (`B` this block, `L` the stake lookback; event
//! `Equivocated`). Evidence of an offence at a height the last report already
//! covers (up to its block + 1), from a height after the next block (the height
//! in agreement when the report was made), or more than `equivocationSuspension`
//! blocks old reverts with a reason. `suspendedUntil(miner)` reads the last
//! suspended height; `isMinerOfHeight` answers `false` for a height the stored
//! suspension covers. Consensus leaves suspended miners out of
//! the registry ([`super::snapshot::miner_registry`]), and a suspended proposer's
//! block reward is not paid.
//!
//! kalgo's additions for absent miners (from the chain config's
//! `absenteeRulesBlock`, `spec::absence`; before it both selectors revert as an
//! unknown selector): `heartbeat()` records `msg.sender`, which must be a
//! registered miner, as seen in this block and clears its absence mark (event
//! `Heartbeat`); `liveness(miner)` reads the record. Block execution records
//! each block's proposer and marks the absent ([`super::snapshot::record_liveness`]);
//! `isMinerOfHeight` answers `false` for a miner marked absent in block `B`
//! at heights from `B + 1 + L` on, from the record as it stands now (once a
//! heartbeat cleared the mark it no longer tells the heights the mark kept
//! the miner out of).

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolError, SolEvent, SolInterface, SolValue};
use revm::{
    context::Cfg,
    context_interface::{Block, ContextTr, JournalTr, Transaction},
    handler::{EthPrecompiles, PrecompileProvider},
    interpreter::{CallInputs, Gas, InstructionResult, InterpreterResult},
    primitives::{AddressSet, Log, hardfork::SpecId},
};
use spec::absence::{AbsenceRule, Liveness};
use spec::crypto::real::Ed25519FsVerifier;
use spec::evidence::{Penalty, Suspension, check_equivocation};
use spec::registration::{
    LimitRefusal, NewRegistration, Registration, RegistrationLimits, effective_registration,
    interval_end, validate_registration,
};

use super::{
    MINER_CONTRACT,
    abi::IMiner,
    layout::{
        INTERVAL_MINERS_SLOT, NEW_MINERS_SLOT, array_elem_slot, array_len_slot, liveness_slot,
        miner_base_slot, pack, pack_liveness, pack_suspension, suspension_slot, unpack,
        unpack_liveness, unpack_suspension,
    },
};

/// Gas charged for `set` (Kaleido's bytecode spent about 120k of its 141,871).
pub const SET_GAS: u64 = 120_000;
/// Gas charged for `setCoinbase`.
pub const SET_COINBASE_GAS: u64 = 30_000;
/// Gas charged for each view function.
pub const VIEW_GAS: u64 = 10_000;
/// Gas charged for `reportEquivocation` (two forward-secure signatures, four
/// ed25519 verifications, and one slot written).
pub const REPORT_GAS: u64 = 100_000;
/// Gas charged for `heartbeat` (two registration reads and one slot written).
pub const HEARTBEAT_GAS: u64 = 30_000;

/// Settings of the miner contract from the chain config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinerContractConfig {
    /// Interval size `I` (Kaleido's bytecode hard-codes 10^6; here it is the config's).
    pub interval: u64,
    /// kalgo's limits on new registrations, when the chain schedules them.
    pub limits: Option<RegistrationLimits>,
    /// Equivocation reports, when the chain schedules them (`equivocationRulesBlock`).
    pub evidence: Option<EvidenceConfig>,
    /// The absentee rule and heartbeats, when the chain schedules them
    /// (`absenteeRulesBlock`).
    pub absence: Option<AbsenceRule>,
}

/// What `reportEquivocation` needs from the chain config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceConfig {
    /// First block with equivocation reports; before it the two functions do
    /// not exist (they revert as an unknown selector did).
    pub from: u64,
    /// Blocks an offender stays suspended, from the block carrying the
    /// evidence; also how old evidence may be.
    pub suspension: u64,
    /// The stake lookback `L`: a report in block `B` takes the offender out of
    /// the committees from height `B + 1 + L` on.
    pub lookback: u64,
    /// The chain id votes are signed for.
    pub chain_id: u64,
    /// Heights per forward-secure sub-key.
    pub lifespan: u64,
}

impl EvidenceConfig {
    /// The protocol parameters a vote signature is checked with (only the chain
    /// id and the sub-key lifespan matter to a signature).
    pub fn params(&self) -> spec::params::Params {
        let mut p = spec::params::Params::new_chain(self.chain_id);
        p.lifespan = self.lifespan;
        p
    }
}

/// Slot of the registrations counter (kalgo's): `block << 64 | count`.
pub const REGISTRATIONS_IN_BLOCK_SLOT: u64 = 3;

/// revm's Ethereum precompiles plus the miner contract.
#[derive(Clone, Debug)]
pub struct KalgoPrecompiles {
    eth: EthPrecompiles,
    miner: Option<MinerContractConfig>,
    warm: AddressSet,
}

impl KalgoPrecompiles {
    /// Ethereum precompiles of `spec`, plus the miner contract when `miner` is set.
    pub fn new(spec: SpecId, miner: Option<MinerContractConfig>) -> Self {
        let eth = EthPrecompiles::new(spec);
        let warm = Self::warm_set(&eth, miner.is_some());
        Self { eth, miner, warm }
    }

    fn warm_set(eth: &EthPrecompiles, miner: bool) -> AddressSet {
        let mut warm = eth.warm_addresses().clone();
        if miner {
            warm.insert(MINER_CONTRACT);
        }
        warm
    }
}

impl<CTX: ContextTr> PrecompileProvider<CTX> for KalgoPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        if changed {
            self.warm = Self::warm_set(&self.eth, self.miner.is_some());
        }
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        match self.miner {
            Some(cfg) if inputs.bytecode_address == MINER_CONTRACT => {
                run_miner(context, inputs, cfg).map(Some)
            }
            _ => <EthPrecompiles as PrecompileProvider<CTX>>::run(&mut self.eth, context, inputs),
        }
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }
}

fn result(kind: InstructionResult, output: Bytes, limit: u64, cost: u64) -> InterpreterResult {
    let mut gas = Gas::new(limit);
    if !gas.record_regular_cost(cost) {
        gas.spend_all();
        return InterpreterResult::new(InstructionResult::PrecompileOOG, Bytes::new(), gas);
    }
    InterpreterResult::new(kind, output, gas)
}

/// The first checks of a function that writes, at its fixed price `cost`: in a
/// static call it reverts, and with less gas than `cost` it halts out of gas.
fn write_guard(inputs: &CallInputs, cost: u64) -> Option<InterpreterResult> {
    let limit = inputs.gas_limit;
    if inputs.is_static {
        return Some(result(InstructionResult::Revert, Bytes::new(), limit, cost));
    }
    // `result` halts with `PrecompileOOG` when `cost` exceeds the limit.
    (limit < cost).then(|| result(InstructionResult::Return, Bytes::new(), limit, cost))
}

struct Journal<'c, CTX> {
    ctx: &'c mut CTX,
}

impl<CTX: ContextTr> Journal<'_, CTX> {
    fn load(&mut self, slot: U256) -> Result<U256, String> {
        self.ctx
            .journal_mut()
            .sload(MINER_CONTRACT, slot)
            .map(|l| l.data)
            .map_err(|e| e.to_string())
    }

    fn store(&mut self, slot: U256, value: U256) -> Result<(), String> {
        self.ctx
            .journal_mut()
            .sstore(MINER_CONTRACT, slot, value)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn registration(&mut self, sn: u64, miner: Address) -> Result<Registration, String> {
        let base = miner_base_slot(sn, miner);
        let packed = self.load(base)?;
        let vrf = self.load(base.wrapping_add(U256::from(1)))?;
        let vote = self.load(base.wrapping_add(U256::from(2)))?;
        Ok(unpack(packed, vrf, vote))
    }

    fn suspension(&mut self, miner: Address) -> Result<Suspension, String> {
        Ok(unpack_suspension(self.load(suspension_slot(miner))?))
    }

    fn liveness(&mut self, miner: Address) -> Result<Liveness, String> {
        Ok(unpack_liveness(self.load(liveness_slot(miner))?))
    }

    /// The registration of `miner` in force at `height`, with the carry-over
    /// rule (`spec::registration::effective_registration`).
    fn registration_at(
        &mut self,
        interval: u64,
        miner: Address,
        height: u64,
    ) -> Result<Option<Registration>, String> {
        let sn = height.checked_div(interval).unwrap_or_default();
        let cur = self.registration(sn, miner)?;
        let prev = match sn.checked_sub(1) {
            Some(p) => self.registration(p, miner)?,
            None => Registration::default(),
        };
        Ok(effective_registration(height, &cur, &prev))
    }

    fn push(&mut self, slot: u64, key: u64, miner: Address) -> Result<(), String> {
        let len_slot = array_len_slot(slot, key);
        let len = self.load(len_slot)?;
        let idx = u64::try_from(len).map_err(|_| "array length overflow".to_string())?;
        self.store(
            array_elem_slot(len_slot, idx),
            U256::from_be_slice(miner.as_slice()),
        )?;
        self.store(len_slot, len.saturating_add(U256::from(1)))
    }

    /// Reads what `spec::registration::RegistrationLimits::admit` judges for a
    /// new registration of `sender` in interval `sn`, and, when admitted,
    /// counts it in this block's registrations.
    fn admit_new(
        &mut self,
        limits: &RegistrationLimits,
        block: u64,
        sender: Address,
        sn: u64,
    ) -> Result<Result<(), LimitRefusal>, String> {
        let balance = self
            .ctx
            .journal_mut()
            .load_account(sender)
            .map_err(|e| e.to_string())?
            .data
            .info
            .balance;
        let counter = self.load(U256::from(REGISTRATIONS_IN_BLOCK_SLOT))?;
        let (at, count) = (
            to_u64(counter >> 64),
            to_u64(counter & U256::from(u64::MAX)),
        );
        let in_block = if at == block { count } else { 0 };
        let new = NewRegistration {
            by_signer: self.ctx.tx().caller() == sender,
            // Stake as consensus reads it (`snapshot::stake`): the balance,
            // saturated to u128.
            stake: u128::try_from(balance).unwrap_or(u128::MAX),
            in_block,
            listed: to_u64(self.load(array_len_slot(INTERVAL_MINERS_SLOT, sn))?),
        };
        if let Err(refusal) = limits.admit(&new) {
            return Ok(Err(refusal));
        }
        self.store(
            U256::from(REGISTRATIONS_IN_BLOCK_SLOT),
            (U256::from(block) << 64) | U256::from(in_block + 1),
        )?;
        Ok(Ok(()))
    }

    fn log(&mut self, data: alloy_primitives::LogData) {
        self.ctx.journal_mut().log(Log {
            address: MINER_CONTRACT,
            data,
        });
    }
}

fn to_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn run_miner<CTX: ContextTr>(
    ctx: &mut CTX,
    inputs: &CallInputs,
    cfg: MinerContractConfig,
) -> Result<InterpreterResult, String> {
    let limit = inputs.gas_limit;
    let revert = |cost| Ok(result(InstructionResult::Revert, Bytes::new(), limit, cost));
    let input = inputs.input.bytes(ctx);
    if inputs.target_address != MINER_CONTRACT || !inputs.call_value().is_zero() {
        return revert(VIEW_GAS);
    }
    let Ok(call) = IMiner::IMinerCalls::abi_decode(&input) else {
        return revert(VIEW_GAS);
    };
    let block = to_u64(ctx.block().number());
    let evidence = cfg.evidence.filter(|e| block >= e.from);
    if evidence.is_none()
        && matches!(
            call,
            IMiner::IMinerCalls::reportEquivocation(_) | IMiner::IMinerCalls::suspendedUntil(_)
        )
    {
        // Not yet part of this chain: exactly the unknown-selector path above.
        return revert(VIEW_GAS);
    }
    let absence = cfg.absence.filter(|r| r.active(block));
    if absence.is_none()
        && matches!(
            call,
            IMiner::IMinerCalls::heartbeat(_) | IMiner::IMinerCalls::liveness(_)
        )
    {
        return revert(VIEW_GAS);
    }
    let sender = inputs.caller;
    let interval = cfg.interval;
    let sn = |h: u64| h.checked_div(interval).unwrap_or_default();
    ctx.journal_mut()
        .load_account(MINER_CONTRACT)
        .map_err(|e| e.to_string())?;
    let mut j = Journal { ctx };
    let ok = |out: Vec<u8>, cost| Ok(result(InstructionResult::Return, out.into(), limit, cost));
    match call {
        IMiner::IMinerCalls::set(c) => {
            if let Some(refused) = write_guard(inputs, SET_GAS) {
                return Ok(refused);
            }
            let reg = Registration {
                start: c.start,
                lifespan: c.lifespan,
                coinbase: c.coinbase.0.0,
                vrf_pk: c.vrfVerifier.0,
                vote_pk: c.voteVerifier.0,
            };
            let existing = j.registration(sn(reg.start), sender)?;
            if validate_registration(block, &reg, &existing, interval).is_err() {
                return ok(false.abi_encode(), SET_GAS);
            }
            if let Some(limits) = cfg
                .limits
                .filter(|l| l.apply_at(block) && !existing.is_set())
                && j.admit_new(&limits, block, sender, sn(reg.start))?.is_err()
            {
                return ok(false.abi_encode(), SET_GAS);
            }
            let base = miner_base_slot(sn(reg.start), sender);
            j.store(base, pack(&reg))?;
            j.store(
                base.wrapping_add(U256::from(1)),
                U256::from_be_bytes(reg.vrf_pk),
            )?;
            j.store(
                base.wrapping_add(U256::from(2)),
                U256::from_be_bytes(reg.vote_pk),
            )?;
            let start = U256::from(reg.start);
            if existing.is_set() {
                j.log(
                    IMiner::Updated {
                        start,
                        miner: sender,
                    }
                    .encode_log_data(),
                );
            } else {
                j.push(NEW_MINERS_SLOT, reg.start, sender)?;
                j.push(INTERVAL_MINERS_SLOT, sn(reg.start), sender)?;
                j.log(
                    IMiner::Added {
                        start,
                        miner: sender,
                    }
                    .encode_log_data(),
                );
            }
            ok(true.abi_encode(), SET_GAS)
        }
        IMiner::IMinerCalls::setCoinbase(c) => {
            if let Some(refused) = write_guard(inputs, SET_COINBASE_GAS) {
                return Ok(refused);
            }
            let number = to_u64(c.number);
            let mut reg = j.registration(sn(number), sender)?;
            let open = interval_end(number, interval).is_ok_and(|end| block < end);
            if !reg.is_set() || !open {
                return ok(false.abi_encode(), SET_COINBASE_GAS);
            }
            reg.coinbase = c.coinbase.0.0;
            j.store(miner_base_slot(sn(number), sender), pack(&reg))?;
            let start = U256::from(reg.start);
            j.log(
                IMiner::Updated {
                    start,
                    miner: sender,
                }
                .encode_log_data(),
            );
            ok(true.abi_encode(), SET_COINBASE_GAS)
        }
        IMiner::IMinerCalls::reportEquivocation(c) => {
            if let Some(refused) = write_guard(inputs, REPORT_GAS) {
                return Ok(refused);
            }
            let refuse = |reason: String| {
                let data = alloy_sol_types::Revert { reason }.abi_encode();
                Ok(result(
                    InstructionResult::Revert,
                    data.into(),
                    limit,
                    REPORT_GAS,
                ))
            };
            let Some(ev) = evidence else {
                return revert(VIEW_GAS);
            };
            let mut key_error = None;
            let checked = check_equivocation(
                &Ed25519FsVerifier,
                &ev.params(),
                &c.first,
                &c.second,
                |voter, height| {
                    j.registration_at(interval, Address::from(voter.0), height)
                        .map(|r| r.map(|r| r.vote_pk))
                        .unwrap_or_else(|e| {
                            key_error = Some(e);
                            None
                        })
                },
            );
            if let Some(e) = key_error {
                return Err(e);
            }
            let offence = match checked {
                Ok(o) => o,
                Err(e) => return refuse(format!("not equivocation evidence: {e}")),
            };
            let miner = Address::from(offence.voter.0);
            let old = j.suspension(miner)?;
            let rules = Penalty {
                suspension: ev.suspension,
                lookback: ev.lookback,
            };
            let new = match rules.punish(block, offence.hrs.height, old) {
                Ok(new) => new,
                Err(e) => return refuse(e.to_string()),
            };
            j.store(suspension_slot(miner), pack_suspension(&new))?;
            j.log(
                IMiner::Equivocated {
                    miner,
                    height: offence.hrs.height,
                    round: offence.hrs.round,
                    step: offence.hrs.step.0,
                    suspendedUntil: new.until,
                }
                .encode_log_data(),
            );
            ok(true.abi_encode(), REPORT_GAS)
        }
        IMiner::IMinerCalls::suspendedUntil(c) => {
            let s = j.suspension(c.miner)?;
            ok(s.until.abi_encode(), VIEW_GAS)
        }
        IMiner::IMinerCalls::heartbeat(_) => {
            if let Some(refused) = write_guard(inputs, HEARTBEAT_GAS) {
                return Ok(refused);
            }
            // A miner registered now or for the next block may say it is online.
            let registered = j.registration_at(interval, sender, block)?.is_some()
                || j.registration_at(interval, sender, block.saturating_add(1))?
                    .is_some();
            if !registered {
                let reason = "heartbeat: the sender is not a registered miner".to_string();
                let data = alloy_sol_types::Revert { reason }.abi_encode();
                return Ok(result(
                    InstructionResult::Revert,
                    data.into(),
                    limit,
                    HEARTBEAT_GAS,
                ));
            }
            j.store(liveness_slot(sender), pack_liveness(&Liveness::seen(block)))?;
            j.log(
                IMiner::Heartbeat {
                    miner: sender,
                    block,
                }
                .encode_log_data(),
            );
            ok(true.abi_encode(), HEARTBEAT_GAS)
        }
        IMiner::IMinerCalls::liveness(c) => {
            let l = j.liveness(c.miner)?;
            ok(
                (l.last_seen, l.absent_since, l.deadline).abi_encode_params(),
                VIEW_GAS,
            )
        }
        IMiner::IMinerCalls::get(c) => {
            let r = j.registration(sn(to_u64(c.number)), c.miner)?;
            let out = (
                r.start,
                r.lifespan,
                Address::from(r.coinbase),
                B256::from(r.vrf_pk),
                B256::from(r.vote_pk),
            )
                .abi_encode_params();
            ok(out, VIEW_GAS)
        }
        IMiner::IMinerCalls::isMinerOfHeight(c) => {
            let h = to_u64(c.number);
            let registered = j.registration_at(interval, c.miner, h)?.is_some();
            let suspended = j.suspension(c.miner)?.excludes(h);
            let absent = match absence {
                Some(rule) => j.liveness(c.miner)?.excludes(h, rule.lookback),
                None => false,
            };
            ok((registered && !suspended && !absent).abi_encode(), VIEW_GAS)
        }
        IMiner::IMinerCalls::getNewAddedMinersCount(c) => {
            let len = j.load(array_len_slot(NEW_MINERS_SLOT, to_u64(c.number)))?;
            ok(len.abi_encode(), VIEW_GAS)
        }
        IMiner::IMinerCalls::getNewAddedMiner(c) => {
            let len_slot = array_len_slot(NEW_MINERS_SLOT, to_u64(c.number));
            if U256::from(c.index) >= j.load(len_slot)? {
                return revert(VIEW_GAS);
            }
            let v = j.load(array_elem_slot(len_slot, u64::from(c.index)))?;
            let addr = Address::from_word(B256::from(v));
            ok(addr.abi_encode(), VIEW_GAS)
        }
    }
}

/// Calldata selector check used by tests and tools.
pub fn is_set_call(data: &[u8]) -> bool {
    data.get(..4) == Some(&IMiner::setCall::SELECTOR[..])
}
