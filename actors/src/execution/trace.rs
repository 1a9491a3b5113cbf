//! Opcode-level tracing for `debug_traceTransaction` and `debug_traceCall`: geth's
//! default "struct logger", as a revm [`Inspector`].
//!
//! A transaction is traced by re-executing its block up to it: the earlier
//! transactions run without an inspector on the parent block's state (through the
//! same executor setup as block execution: kalgo's precompiles, the block's
//! environment), then the target runs with a [`StructLogger`]. Nothing is written.
//!
//! Every step yields one [`StructLog`]: program counter, opcode, gas left before the
//! opcode, its cost (for calls and creates this includes the gas handed to the
//! callee, as in geth), call depth (1 = the transaction's own frame), the
//! transaction-wide refund counter, and on request the stack, memory, return-data
//! buffer and, at SLOAD/SSTORE, the storage slots of the executing contract seen so
//! far in the trace. Traces are bounded ([`TraceOptions::max_logs`],
//! [`TraceOptions::max_bytes`]): past the bound the trace is refused
//! ([`TraceError::TooLarge`]), never truncated silently. geth's `limit` option
//! ([`TraceOptions::limit`]) truncates, as in geth.

use std::collections::BTreeMap;

use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bytes, U256};
use revm::{
    Context, ExecuteCommitEvm, InspectCommitEvm, InspectEvm, Inspector, MainBuilder, MainContext,
    bytecode::opcode::{self, OpCode},
    context::{
        BlockEnv, CfgEnv, ContextTr, TxEnv,
        result::{EVMError, ExecutionResult, InvalidTransaction},
    },
    interpreter::{
        CallInputs, CallOutcome, CreateInputs, CreateOutcome, InstructionResult, Interpreter,
        interpreter::EthInterpreter,
        interpreter_types::{InputsTr, Jumps, LoopControl, MemoryTr, ReturnData},
    },
};

pub use crate::execution::trace_common::TraceError;
use crate::execution::trace_common::halt_text;
use crate::execution::{
    block::{Block, block_env, cfg_env},
    call::{CallRequest, call_env},
    call_tracer::{CallFrame, CallTracer, CallTracerConfig},
    chain_config::ChainConfig,
    header::KalgoHeader,
    miner::contract::KalgoPrecompiles,
    state::{StateOverlay, StateReader, StorageError},
};

/// What to record, and the bounds of one trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceOptions {
    /// Leave out the stack (geth's `disableStack`).
    pub disable_stack: bool,
    /// Leave out storage at SLOAD/SSTORE (geth's `disableStorage`).
    pub disable_storage: bool,
    /// Record memory (geth's `enableMemory`).
    pub enable_memory: bool,
    /// Record the return-data buffer (geth's `enableReturnData`).
    pub enable_return_data: bool,
    /// geth's `limit`: keep at most this many logs and drop the rest (0 = no limit).
    pub limit: usize,
    /// The node's bound on the number of logs; a longer trace is refused.
    pub max_logs: usize,
    /// The node's bound on the estimated JSON size of the logs; a larger trace is refused.
    pub max_bytes: usize,
    /// Run geth's `callTracer` instead of the struct logger (`max_logs` then bounds
    /// the number of frames, `max_bytes` their data).
    pub call_tracer: Option<CallTracerOptions>,
}

/// geth's `callTracer` configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTracerOptions {
    /// Record the top frame only.
    pub only_top_call: bool,
    /// Record logs.
    pub with_log: bool,
}

/// A finished trace: the struct logger's result, or `callTracer`'s top frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceOutput {
    /// geth's default tracer.
    Struct(TraceResult),
    /// `callTracer`.
    Call(Box<CallFrame>),
}

impl TraceOutput {
    /// The struct logger's result, if that was the tracer.
    pub fn into_struct(self) -> Option<TraceResult> {
        match self {
            Self::Struct(t) => Some(t),
            Self::Call(_) => None,
        }
    }
}

impl Default for TraceOptions {
    fn default() -> Self {
        Self {
            disable_stack: false,
            disable_storage: false,
            enable_memory: false,
            enable_return_data: false,
            limit: 0,
            max_logs: 500_000,
            max_bytes: 48 * 1024 * 1024,
            call_tracer: None,
        }
    }
}

/// One executed opcode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLog {
    /// Program counter.
    pub pc: u64,
    /// The opcode byte.
    pub op: u8,
    /// Gas left before the opcode.
    pub gas: u64,
    /// Gas the opcode took (including gas handed to a callee).
    pub gas_cost: u64,
    /// Call depth, 1 for the transaction's frame.
    pub depth: u64,
    /// Stack, bottom first (unless disabled).
    pub stack: Option<Vec<U256>>,
    /// Memory (when enabled).
    pub memory: Option<Bytes>,
    /// Return-data buffer (when enabled and not empty).
    pub return_data: Option<Bytes>,
    /// The contract's storage slots seen so far, at SLOAD/SSTORE (unless disabled).
    pub storage: Option<BTreeMap<B256, B256>>,
    /// Transaction-wide refund counter.
    pub refund: u64,
    /// Why the opcode failed, if it did (geth's words where it has them).
    pub error: Option<String>,
}

impl StructLog {
    /// The opcode's name (`PUSH1`, `SSTORE`, …), or geth's text for an undefined one.
    pub fn op_name(&self) -> String {
        match OpCode::new(self.op) {
            Some(op) => op.as_str().to_string(),
            None => format!("opcode {:#x} not defined", self.op),
        }
    }

    /// A rough size of this log in geth's JSON, for the byte bound.
    fn json_size(&self) -> usize {
        let stack = self.stack.as_ref().map_or(0, |s| s.len() * 70);
        let memory = self
            .memory
            .as_ref()
            .map_or(0, |m| m.len() * 2 + m.len() / 32 * 4);
        let rdata = self.return_data.as_ref().map_or(0, |r| r.len() * 2);
        let storage = self.storage.as_ref().map_or(0, |s| s.len() * 136);
        120 + stack + memory + rdata + storage
    }
}

/// A finished trace (geth's `ExecutionResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceResult {
    /// Gas used by the transaction (after refunds: the receipt's `gasUsed`).
    pub gas: u64,
    /// Whether it reverted or halted.
    pub failed: bool,
    /// Output on success, revert data on revert, empty on a halt.
    pub return_value: Bytes,
    /// One entry per executed opcode.
    pub struct_logs: Vec<StructLog>,
}

/// The opcode seen at `step`, completed at `step_end`.
#[derive(Debug)]
struct Pending {
    log: StructLog,
    address: Address,
    /// SLOAD's key, or SSTORE's key and value, read from the stack before the opcode.
    slot: Option<(B256, Option<B256>)>,
}

/// geth's struct logger as a revm inspector.
#[derive(Debug)]
pub struct StructLogger {
    opts: TraceOptions,
    logs: Vec<StructLog>,
    bytes: usize,
    too_large: bool,
    pending: Option<Pending>,
    /// Refund recorded by each active frame (index = depth − 1); revm keeps a
    /// refund per frame and folds a child's into its caller when it succeeds.
    refunds: Vec<i64>,
    /// Storage seen so far, per contract.
    storage: BTreeMap<Address, BTreeMap<B256, B256>>,
}

impl StructLogger {
    /// A logger with `opts`.
    pub fn new(opts: TraceOptions) -> Self {
        Self {
            opts,
            logs: Vec::new(),
            bytes: 0,
            too_large: false,
            pending: None,
            refunds: Vec::new(),
            storage: BTreeMap::new(),
        }
    }

    fn recording(&self) -> bool {
        !self.too_large && (self.opts.limit == 0 || self.logs.len() < self.opts.limit)
    }

    /// Estimated JSON bytes recorded so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The logs, or [`TraceError::TooLarge`].
    pub fn finish(self) -> Result<Vec<StructLog>, TraceError> {
        if self.too_large {
            return Err(TraceError::TooLarge {
                max_logs: self.opts.max_logs,
                max_bytes: self.opts.max_bytes,
            });
        }
        Ok(self.logs)
    }
}

/// geth's message for an opcode that failed (revm's name for a halt geth has no
/// words for).
fn step_error(result: InstructionResult) -> Option<String> {
    if !result.is_halt() {
        return None;
    }
    Some(halt_text(result).map_or_else(|| format!("{result:?}"), str::to_string))
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for StructLogger {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        self.pending = None;
        if !self.recording() {
            return;
        }
        let depth = interp.input.depth() as u64 + 1;
        let frame = interp.input.depth();
        self.refunds.truncate(frame + 1);
        self.refunds.resize(frame + 1, 0);
        self.refunds[frame] = interp.gas.refunded();
        let refund = self.refunds.iter().sum::<i64>().max(0) as u64;
        let op = interp.bytecode.opcode();
        let stack = interp.stack.data();
        let slot = match op {
            opcode::SLOAD if !stack.is_empty() => Some((B256::from(stack[stack.len() - 1]), None)),
            opcode::SSTORE if stack.len() >= 2 => Some((
                B256::from(stack[stack.len() - 1]),
                Some(B256::from(stack[stack.len() - 2])),
            )),
            _ => None,
        };
        let return_data = interp.return_data.buffer();
        let log = StructLog {
            pc: interp.bytecode.pc() as u64,
            op,
            gas: interp.gas.remaining(),
            gas_cost: 0,
            depth,
            stack: (!self.opts.disable_stack).then(|| stack.to_vec()),
            memory: self
                .opts
                .enable_memory
                .then(|| Bytes::copy_from_slice(&interp.memory.slice(0..interp.memory.size()))),
            return_data: (self.opts.enable_return_data && !return_data.is_empty())
                .then(|| return_data.clone()),
            storage: None,
            refund,
            error: None,
        };
        self.pending = Some(Pending {
            log,
            address: interp.input.target_address(),
            slot: if self.opts.disable_storage {
                None
            } else {
                slot
            },
        });
    }

    fn step_end(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        let Some(Pending {
            mut log,
            address,
            slot,
        }) = self.pending.take()
        else {
            return;
        };
        log.gas_cost = log.gas.saturating_sub(interp.gas.remaining());
        log.error = interp.bytecode.instruction_result().and_then(step_error);
        if let Some((key, stored)) = slot
            && log.error.is_none()
        {
            // SLOAD's value is on the stack once the opcode ran (if it ran).
            let value = stored.or_else(|| interp.stack.data().last().map(|v| B256::from(*v)));
            if let Some(value) = value {
                let seen = self.storage.entry(address).or_default();
                seen.insert(key, value);
                log.storage = Some(seen.clone());
            }
        }
        let size = log.json_size();
        if self.logs.len() >= self.opts.max_logs
            || self.bytes.saturating_add(size) > self.opts.max_bytes
        {
            self.too_large = true;
            self.logs = Vec::new();
            return;
        }
        self.bytes += size;
        self.logs.push(log);
    }
}

/// The inspector a trace runs with.
#[derive(Debug)]
pub enum Tracer {
    /// geth's default struct logger.
    Struct(StructLogger),
    /// geth's `callTracer`.
    Call(CallTracer),
}

impl Tracer {
    /// The tracer `opts` ask for.
    pub fn new(opts: &TraceOptions) -> Self {
        match opts.call_tracer {
            None => Self::Struct(StructLogger::new(opts.clone())),
            Some(c) => Self::Call(CallTracer::new(CallTracerConfig {
                only_top_call: c.only_top_call,
                with_log: c.with_log,
                max_frames: opts.max_logs,
                max_bytes: opts.max_bytes,
            })),
        }
    }

    /// The trace of a transaction with `gas_limit` that ended with `outcome`, and
    /// what it used of the bounds (entries, bytes).
    fn finish(
        self,
        outcome: ExecutionResult,
        gas_limit: u64,
    ) -> Result<(TraceOutput, usize, usize), TraceError> {
        match self {
            Self::Struct(logger) => {
                let bytes = logger.bytes();
                let logs = logger.finish()?;
                let count = logs.len();
                Ok((TraceOutput::Struct(result(outcome, logs)), count, bytes))
            }
            Self::Call(tracer) => {
                let (frames, bytes) = tracer.used();
                let top = tracer
                    .finish(gas_limit, outcome.tx_gas_used())?
                    .ok_or_else(|| TraceError::Invalid("the transaction made no call".into()))?;
                Ok((TraceOutput::Call(Box::new(top)), frames, bytes))
            }
        }
    }
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for Tracer {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, context: &mut CTX) {
        if let Self::Struct(l) = self {
            l.step(interp, context);
        }
    }

    fn step_end(&mut self, interp: &mut Interpreter<EthInterpreter>, context: &mut CTX) {
        if let Self::Struct(l) = self {
            l.step_end(interp, context);
        }
    }

    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        match self {
            Self::Call(c) => c.call(context, inputs),
            Self::Struct(_) => None,
        }
    }

    fn call_end(&mut self, context: &mut CTX, inputs: &CallInputs, outcome: &mut CallOutcome) {
        if let Self::Call(c) = self {
            c.call_end(context, inputs, outcome);
        }
    }

    fn create(&mut self, context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        match self {
            Self::Call(c) => c.create(context, inputs),
            Self::Struct(_) => None,
        }
    }

    fn create_end(
        &mut self,
        context: &mut CTX,
        inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        if let Self::Call(c) = self {
            c.create_end(context, inputs, outcome);
        }
    }

    fn log(&mut self, context: &mut CTX, log: alloy_primitives::Log) {
        if let Self::Call(c) = self {
            c.log(context, log);
        }
    }
}

type TraceCtx<'a, S> = revm::handler::MainnetContext<StateOverlay<'a, S>>;
/// revm's mainnet EVM with kalgo's precompiles and a [`Tracer`].
type TracedEvm<'a, S> = revm::context::Evm<
    TraceCtx<'a, S>,
    Tracer,
    revm::handler::instructions::EthInstructions<EthInterpreter, TraceCtx<'a, S>>,
    KalgoPrecompiles,
    revm::handler::EthFrame<EthInterpreter>,
>;

/// An EVM with kalgo's precompiles and the tracer `opts` ask for, over `overlay`.
fn traced_evm<'a, S: StateReader + ?Sized>(
    overlay: StateOverlay<'a, S>,
    cfg: CfgEnv,
    block: BlockEnv,
    config: &ChainConfig,
    opts: TraceOptions,
) -> TracedEvm<'a, S> {
    let spec = cfg.spec;
    Context::mainnet()
        .with_db(overlay)
        .with_cfg(cfg)
        .with_block(block)
        .build_mainnet_with_inspector(Tracer::new(&opts))
        .with_precompiles(KalgoPrecompiles::new(spec, config.miner_contract()))
}

fn invalid(e: EVMError<StorageError>) -> TraceError {
    match e {
        EVMError::Database(e) => TraceError::Storage(e),
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            TraceError::Invalid(format!(
                "insufficient funds for gas * price + value: have {balance} want {fee}"
            ))
        }
        EVMError::Transaction(InvalidTransaction::Eip7702NotSupported) => {
            TraceError::Invalid(crate::execution::call::PRE_PRAGUE_AUTHORIZATIONS.to_string())
        }
        other => TraceError::Invalid(other.to_string()),
    }
}

fn result(outcome: ExecutionResult, logs: Vec<StructLog>) -> TraceResult {
    let gas = outcome.tx_gas_used();
    let (failed, return_value) = match outcome {
        ExecutionResult::Success { output, .. } => (false, output.into_data()),
        ExecutionResult::Revert { output, .. } => (true, output),
        ExecutionResult::Halt { .. } => (true, Bytes::new()),
    };
    TraceResult {
        gas,
        failed,
        return_value,
        struct_logs: logs,
    }
}

/// The block environment of `header` (its own number, time, coinbase, base fee
/// and seed), as block execution sets it.
fn header_env(config: &ChainConfig, header: &KalgoHeader) -> (CfgEnv, BlockEnv) {
    let number = header.number();
    let spec = config.spec_at(number, header.eth.timestamp);
    let attrs = crate::execution::call::attributes(header);
    (
        cfg_env(config, spec),
        block_env(number, &attrs, header.eth.base_fee_per_gas, spec),
    )
}

/// Takes the tracer out of `evm` (leaving a fresh one for `opts`).
fn take_tracer<S: StateReader + ?Sized>(evm: &mut TracedEvm<'_, S>, opts: &TraceOptions) -> Tracer {
    std::mem::replace(&mut evm.inspector, Tracer::new(opts))
}

/// `debug_traceTransaction`: traces transaction `index` of `block` (with its
/// recovered `senders`) on `parent_state`, the state after the block's parent.
pub fn trace_transaction<S: StateReader + ?Sized>(
    config: &ChainConfig,
    parent_state: &S,
    block: &Block,
    senders: &[Address],
    index: usize,
    opts: TraceOptions,
) -> Result<TraceOutput, TraceError> {
    let (Some(target), Some(sender)) = (block.transactions.get(index), senders.get(index)) else {
        return Err(TraceError::NoSuchTransaction(index));
    };
    let (cfg, env) = header_env(config, &block.header);
    let spec = cfg.spec;
    let mut evm = traced_evm(
        StateOverlay::new(parent_state, spec),
        cfg,
        env,
        config,
        opts.clone(),
    );
    for (tx, from) in block.transactions.iter().zip(senders).take(index) {
        evm.transact_commit(TxEnv::from_recovered_tx(tx, *from))
            .map_err(invalid)?;
    }
    let tx = TxEnv::from_recovered_tx(target, *sender);
    let gas_limit = tx.gas_limit;
    let outcome = evm.inspect_one_tx(tx).map_err(invalid)?;
    Ok(take_tracer(&mut evm, &opts).finish(outcome, gas_limit)?.0)
}

/// `debug_traceBlockByNumber`/`ByHash`: traces every transaction of `block` (with
/// its recovered `senders`) on `parent_state`, in one pass. The node's bounds in
/// `opts` hold for the whole block, not per transaction.
pub fn trace_block<S: StateReader + ?Sized>(
    config: &ChainConfig,
    parent_state: &S,
    block: &Block,
    senders: &[Address],
    opts: TraceOptions,
) -> Result<Vec<TraceOutput>, TraceError> {
    let (cfg, env) = header_env(config, &block.header);
    let spec = cfg.spec;
    let mut evm = traced_evm(
        StateOverlay::new(parent_state, spec),
        cfg,
        env,
        config,
        opts.clone(),
    );
    let mut left = opts.clone();
    let mut out = Vec::with_capacity(block.transactions.len());
    for (tx, from) in block.transactions.iter().zip(senders) {
        let tx = TxEnv::from_recovered_tx(tx, *from);
        let gas_limit = tx.gas_limit;
        let outcome = evm
            .inspect_commit(tx, Tracer::new(&left))
            .map_err(invalid)?;
        let (trace, count, bytes) = take_tracer(&mut evm, &left)
            .finish(outcome, gas_limit)
            .map_err(|e| match e {
                TraceError::TooLarge { .. } => TraceError::TooLarge {
                    max_logs: opts.max_logs,
                    max_bytes: opts.max_bytes,
                },
                other => other,
            })?;
        left.max_logs = left.max_logs.saturating_sub(count);
        left.max_bytes = left.max_bytes.saturating_sub(bytes);
        out.push(trace);
    }
    Ok(out)
}

/// `debug_traceCall`: traces `req` as `eth_call` runs it on `state` (the state
/// after `header`), with at most `gas_cap` gas.
pub fn trace_call<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_cap: u64,
    opts: TraceOptions,
) -> Result<TraceOutput, TraceError> {
    let (cfg, env, tx) = call_env(config, header, req, gas_cap);
    let spec = cfg.spec;
    let gas_limit = tx.gas_limit;
    let mut evm = traced_evm(
        StateOverlay::new(state, spec),
        cfg,
        env,
        config,
        opts.clone(),
    );
    let outcome = evm.inspect_one_tx(tx).map_err(invalid)?;
    Ok(take_tracer(&mut evm, &opts).finish(outcome, gas_limit)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_primitives::hex;

    fn setup() -> (ChainConfig, MemoryState, KalgoHeader) {
        let config = ChainConfig::new_chain(1337);
        let mut state = MemoryState::default();
        let code = |s: &str| Bytes::from(hex::decode(s).unwrap_or_default());
        // PUSH1 42 PUSH1 0 SSTORE PUSH1 0 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
        state
            .insert_account(
                Address::repeat_byte(3),
                0,
                U256::ZERO,
                code("602a60005560005460005260206000f3"),
                [],
            )
            .ok();
        // Reverts with 0xdeadbeef.
        state
            .insert_account(
                Address::repeat_byte(2),
                0,
                U256::ZERO,
                code("63deadbeef6000526004601cfd"),
                [],
            )
            .ok();
        let mut header = KalgoHeader::default();
        header.eth.gas_limit = 30_000_000;
        header.eth.number = 5;
        header.eth.timestamp = 100;
        header.eth.base_fee_per_gas = Some(1_000_000_000);
        (config, state, header)
    }

    fn req(to: u8) -> CallRequest {
        CallRequest {
            from: Some(Address::repeat_byte(9)),
            to: Some(Address::repeat_byte(to)),
            ..Default::default()
        }
    }

    #[test]
    fn struct_logs_follow_geth() -> Result<(), TraceError> {
        let (config, state, header) = setup();
        let t = trace_call(
            &config,
            &state,
            &header,
            &req(3),
            50_000_000,
            TraceOptions::default(),
        )?
        .into_struct()
        .ok_or(TraceError::NoSuchTransaction(0))?;
        assert!(!t.failed);
        let logs = &t.struct_logs;
        assert_eq!(logs[0].op_name(), "PUSH1");
        assert_eq!((logs[0].pc, logs[0].depth), (0, 1));
        assert_eq!(logs[0].stack.as_deref(), Some(&[][..]));
        for w in logs.windows(2) {
            assert_eq!(w[1].gas, w[0].gas - w[0].gas_cost, "{w:?}");
        }
        let sstore = logs
            .iter()
            .find(|l| l.op == opcode::SSTORE)
            .expect("SSTORE");
        let slot0 = B256::ZERO;
        let v42 = B256::from(U256::from(42));
        assert_eq!(
            sstore.storage.as_ref().and_then(|s| s.get(&slot0)),
            Some(&v42)
        );
        // A fresh slot set from zero: 20000 + 2100 (cold) after Berlin.
        assert_eq!(sstore.gas_cost, 22_100);
        let sload = logs.iter().find(|l| l.op == opcode::SLOAD).expect("SLOAD");
        assert_eq!(
            sload.storage.as_ref().and_then(|s| s.get(&slot0)),
            Some(&v42)
        );
        assert_eq!(t.return_value.as_ref(), v42.as_slice());
        // Without stack and storage, with memory.
        let t = trace_call(
            &config,
            &state,
            &header,
            &req(3),
            50_000_000,
            TraceOptions {
                disable_stack: true,
                disable_storage: true,
                enable_memory: true,
                ..Default::default()
            },
        )?
        .into_struct()
        .ok_or(TraceError::NoSuchTransaction(0))?;
        assert!(
            t.struct_logs
                .iter()
                .all(|l| l.stack.is_none() && l.storage.is_none())
        );
        let ret = t.struct_logs.last().expect("RETURN");
        assert_eq!(ret.op, opcode::RETURN);
        assert_eq!(ret.memory.as_ref().map(|m| m.to_vec()), Some(v42.to_vec()));
        Ok(())
    }

    #[test]
    fn calls_depth_and_refunds_follow_geth() -> Result<(), TraceError> {
        let (config, mut state, header) = setup();
        let b = Address::repeat_byte(4);
        let code = |s: &str| Bytes::from(hex::decode(s).unwrap_or_default());
        // B clears its slot 0 (a refund), A calls B with all gas.
        state
            .insert_account(
                b,
                0,
                U256::ZERO,
                code("600060005500"),
                [(U256::ZERO, U256::from(1))],
            )
            .ok();
        state
            .insert_account(
                Address::repeat_byte(5),
                0,
                U256::ZERO,
                code(&format!("6000600060006000600073{}5af15000", hex::encode(b))),
                [],
            )
            .ok();
        let t = trace_call(
            &config,
            &state,
            &header,
            &req(5),
            50_000_000,
            TraceOptions::default(),
        )?
        .into_struct()
        .ok_or(TraceError::NoSuchTransaction(0))?;
        assert!(!t.failed);
        let logs = &t.struct_logs;
        let call = logs
            .iter()
            .position(|l| l.op == opcode::CALL)
            .expect("CALL");
        let (caller, first) = (&logs[call], &logs[call + 1]);
        assert_eq!((caller.depth, first.depth), (1, 2));
        assert_eq!((first.pc, first.op_name().as_str()), (0, "PUSH1"));
        // geth: CALL's cost includes the gas handed to the callee.
        assert!(caller.gas_cost >= first.gas, "{caller:?} {first:?}");
        let sstore = logs
            .iter()
            .find(|l| l.op == opcode::SSTORE)
            .expect("SSTORE");
        assert_eq!(sstore.refund, 0);
        let after = &logs[call + 1..];
        let back = after.iter().find(|l| l.depth == 1).expect("back in A");
        // Clearing a slot refunds 4,800 after London; the caller sees it too.
        assert_eq!(back.refund, 4_800, "{back:?}");
        assert!(
            after
                .iter()
                .filter(|l| l.depth == 2)
                .last()
                .is_some_and(|l| l.refund == 4_800)
        );
        // Back in A: the gas left is A's gas after CALL plus what B did not use.
        let b_last = after
            .iter()
            .filter(|l| l.depth == 2)
            .last()
            .expect("B's STOP");
        assert_eq!(
            back.gas,
            caller.gas - caller.gas_cost + (b_last.gas - b_last.gas_cost)
        );
        Ok(())
    }

    #[test]
    fn call_tracer_builds_geths_frames() -> Result<(), TraceError> {
        let (config, mut state, header) = setup();
        let code = |s: &str| Bytes::from(hex::decode(s).unwrap_or_default());
        // D (0x06) calls the reverting contract (0x02) with all gas, then stops.
        let callee = hex::encode(Address::repeat_byte(2));
        state
            .insert_account(
                Address::repeat_byte(6),
                0,
                U256::ZERO,
                code(&format!("6000600060006000600073{callee}5af15000")),
                [],
            )
            .ok();
        let opts = TraceOptions {
            call_tracer: Some(CallTracerOptions::default()),
            ..Default::default()
        };
        let mut request = req(6);
        request.gas = Some(100_000);
        let TraceOutput::Call(top) =
            trace_call(&config, &state, &header, &request, 50_000_000, opts.clone())?
        else {
            panic!("not a call trace");
        };
        assert_eq!(top.kind, "CALL");
        assert_eq!(
            (top.from, top.to),
            (Address::repeat_byte(9), Some(Address::repeat_byte(6)))
        );
        assert_eq!(top.gas, 100_000);
        assert!(top.gas_used > 21_000 && top.gas_used < 100_000, "{top:?}");
        assert_eq!(top.error, None);
        assert_eq!(top.calls.len(), 1);
        let child = &top.calls[0];
        assert_eq!(child.kind, "CALL");
        assert_eq!(
            (child.from, child.to, child.value),
            (
                Address::repeat_byte(6),
                Some(Address::repeat_byte(2)),
                Some(U256::ZERO)
            )
        );
        assert_eq!(child.error.as_deref(), Some("execution reverted"));
        assert_eq!(child.output.as_ref(), [0xde, 0xad, 0xbe, 0xef]);
        assert!(child.gas_used > 0 && child.gas_used < child.gas);
        // onlyTopCall.
        let TraceOutput::Call(top) = trace_call(
            &config,
            &state,
            &header,
            &request,
            50_000_000,
            TraceOptions {
                call_tracer: Some(CallTracerOptions {
                    only_top_call: true,
                    with_log: false,
                }),
                ..opts
            },
        )?
        else {
            panic!("not a call trace");
        };
        assert!(top.calls.is_empty());

        // withLog: a frame's logs; a failed frame's logs are dropped.
        state
            .insert_account(
                Address::repeat_byte(7),
                0,
                U256::ZERO,
                code("602a60005260206000a000"),
                [],
            )
            .ok();
        state
            .insert_account(
                Address::repeat_byte(8),
                0,
                U256::ZERO,
                code("602a60005260206000a060006000fd"),
                [],
            )
            .ok();
        let with_log = TraceOptions {
            call_tracer: Some(CallTracerOptions {
                only_top_call: false,
                with_log: true,
            }),
            ..Default::default()
        };
        let frames: Vec<CallFrame> = [7u8, 8]
            .into_iter()
            .map(|to| {
                match trace_call(
                    &config,
                    &state,
                    &header,
                    &req(to),
                    50_000_000,
                    with_log.clone(),
                ) {
                    Ok(TraceOutput::Call(top)) => Ok(*top),
                    Ok(other) => panic!("{other:?}"),
                    Err(e) => Err(e),
                }
            })
            .collect::<Result<_, _>>()?;
        assert_eq!(frames[0].logs.len(), 1);
        let log = &frames[0].logs[0];
        assert_eq!((log.address, log.position), (Address::repeat_byte(7), 0));
        assert_eq!(log.data.as_ref(), B256::from(U256::from(42)).as_slice());
        assert_eq!(frames[1].error.as_deref(), Some("execution reverted"));
        assert!(frames[1].logs.is_empty());
        Ok(())
    }

    #[test]
    fn revert_and_bounds() -> Result<(), TraceError> {
        let (config, state, header) = setup();
        let t = trace_call(
            &config,
            &state,
            &header,
            &req(2),
            50_000_000,
            TraceOptions::default(),
        )?
        .into_struct()
        .ok_or(TraceError::NoSuchTransaction(0))?;
        assert!(t.failed);
        assert_eq!(t.return_value.as_ref(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(t.struct_logs.last().map(|l| l.op), Some(opcode::REVERT));
        // geth's `limit` truncates; the node's bound refuses.
        let t = trace_call(
            &config,
            &state,
            &header,
            &req(3),
            50_000_000,
            TraceOptions {
                limit: 3,
                ..Default::default()
            },
        )?
        .into_struct()
        .ok_or(TraceError::NoSuchTransaction(0))?;
        assert_eq!(t.struct_logs.len(), 3);
        let refused = trace_call(
            &config,
            &state,
            &header,
            &req(3),
            50_000_000,
            TraceOptions {
                max_logs: 3,
                ..Default::default()
            },
        );
        assert!(matches!(refused, Err(TraceError::TooLarge { .. })));
        Ok(())
    }
}
