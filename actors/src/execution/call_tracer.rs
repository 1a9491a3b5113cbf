//! geth's `callTracer` as a revm [`Inspector`]: the tree of call frames of one
//! transaction (`CALL`, `STATICCALL`, `DELEGATECALL`, `CALLCODE`, `CREATE`,
//! `CREATE2`), each with its sender, recipient, value, gas given and used,
//! input, output, error and decoded revert reason, and optionally its logs.
//!
//! As in geth: the top frame's `gas` is the transaction's gas limit and its
//! `gasUsed` the receipt's (set by the caller, [`CallTracer::finish`]); a failed
//! create has no `to`; `DELEGATECALL` frames carry no value; the logs of a frame
//! that failed (or of any frame under it) are dropped; `onlyTopCall` records the
//! top frame only. Bounded by [`CallTracerConfig::max_frames`] frames and
//! [`CallTracerConfig::max_bytes`] of input, output and log data in all.

use alloy_primitives::{Address, B256, Bytes, Log, U256};
use alloy_sol_types::{Revert, SolError};
use revm::{
    Inspector,
    context::ContextTr,
    interpreter::{
        CallInputs, CallOutcome, CallScheme, CreateInputs, CreateOutcome, InstructionResult,
        interpreter::EthInterpreter,
    },
};

use crate::execution::trace_common::{TraceError, halt_text};

/// The tracer's options (geth's `tracerConfig`) and the node's bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTracerConfig {
    /// Record the top frame only.
    pub only_top_call: bool,
    /// Record logs.
    pub with_log: bool,
    /// Most frames; a deeper or wider tree is refused.
    pub max_frames: usize,
    /// Most bytes of input, output and log data in all.
    pub max_bytes: usize,
}

/// One log of a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLog {
    /// Emitting contract.
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
    /// How many child frames of the emitting frame came before it.
    pub position: usize,
}

/// One call frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFrame {
    /// `CALL`, `STATICCALL`, `DELEGATECALL`, `CALLCODE`, `CREATE` or `CREATE2`.
    pub kind: &'static str,
    /// Sender (for `DELEGATECALL`, the delegating contract).
    pub from: Address,
    /// Recipient or created contract (`None` for a failed create).
    pub to: Option<Address>,
    /// Value sent (`None` for `DELEGATECALL`).
    pub value: Option<U256>,
    /// Gas given to the frame.
    pub gas: u64,
    /// Gas the frame used.
    pub gas_used: u64,
    /// Calldata or init code.
    pub input: Bytes,
    /// Return data (or the revert data).
    pub output: Bytes,
    /// geth's error text, if the frame failed.
    pub error: Option<String>,
    /// The `Error(string)` reason of a revert.
    pub revert_reason: Option<String>,
    /// Child frames, in order.
    pub calls: Vec<CallFrame>,
    /// Logs (with `withLog`).
    pub logs: Vec<FrameLog>,
}

/// A revm [`Inspector`] building geth's `callTracer` frame tree (see the module docs).
#[derive(Debug)]
pub struct CallTracer {
    config: CallTracerConfig,
    /// Open frames, outermost first.
    stack: Vec<CallFrame>,
    /// The finished top frame.
    top: Option<CallFrame>,
    frames: usize,
    bytes: usize,
    too_large: bool,
}

/// geth's message for a failed frame: a revert, a halt in geth's words, or
/// revm's name for one geth has no words for.
fn error_text(result: InstructionResult) -> Option<String> {
    if result.is_ok() {
        return None;
    }
    if result.is_revert() {
        return Some("execution reverted".to_string());
    }
    Some(halt_text(result).map_or_else(|| format!("{result:?}"), str::to_string))
}

impl CallTracer {
    /// A tracer with `config`.
    pub fn new(config: CallTracerConfig) -> Self {
        Self {
            config,
            stack: Vec::new(),
            top: None,
            frames: 0,
            bytes: 0,
            too_large: false,
        }
    }

    fn recording(&self) -> bool {
        !self.too_large && (!self.config.only_top_call || self.stack.is_empty())
    }

    fn open(&mut self, frame: CallFrame) {
        self.frames += 1;
        self.bytes = self.bytes.saturating_add(frame.input.len());
        if self.frames > self.config.max_frames || self.bytes > self.config.max_bytes {
            self.too_large = true;
        }
        self.stack.push(frame);
    }

    fn close(
        &mut self,
        result: InstructionResult,
        output: &Bytes,
        gas_used: u64,
        to: Option<Address>,
    ) {
        let Some(mut frame) = self.stack.pop() else {
            return;
        };
        frame.gas_used = gas_used;
        frame.output = output.clone();
        self.bytes = self.bytes.saturating_add(output.len());
        if self.bytes > self.config.max_bytes {
            self.too_large = true;
        }
        frame.error = error_text(result);
        if frame.error.is_some() {
            // geth drops the logs of a failed frame and of everything under it.
            clear_logs(&mut frame);
            if result.is_revert() {
                frame.revert_reason = Revert::abi_decode(output)
                    .ok()
                    .map(|r| r.reason().to_string());
            } else {
                frame.output = Bytes::new();
                frame.gas_used = frame.gas;
            }
        }
        if frame.kind.starts_with("CREATE") {
            frame.to = if frame.error.is_none() { to } else { None };
        }
        match self.stack.last_mut() {
            Some(parent) => parent.calls.push(frame),
            None => self.top = Some(frame),
        }
    }

    /// Frames and bytes recorded so far.
    pub fn used(&self) -> (usize, usize) {
        (self.frames, self.bytes)
    }

    /// The top frame with the transaction's `gas_limit` and `gas_used`, or
    /// [`TraceError::TooLarge`].
    pub fn finish(self, gas_limit: u64, gas_used: u64) -> Result<Option<CallFrame>, TraceError> {
        if self.too_large {
            return Err(TraceError::TooLarge {
                max_logs: self.config.max_frames,
                max_bytes: self.config.max_bytes,
            });
        }
        Ok(self.top.map(|mut top| {
            top.gas = gas_limit;
            top.gas_used = gas_used;
            top
        }))
    }
}

fn clear_logs(frame: &mut CallFrame) {
    frame.logs.clear();
    for c in &mut frame.calls {
        clear_logs(c);
    }
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for CallTracer {
    fn call(&mut self, context: &mut CTX, inputs: &mut CallInputs) -> Option<CallOutcome> {
        if !self.recording() {
            self.stack.push(placeholder());
            return None;
        }
        let (kind, value) = match inputs.scheme {
            CallScheme::Call => ("CALL", Some(inputs.call_value())),
            CallScheme::CallCode => ("CALLCODE", Some(inputs.call_value())),
            CallScheme::DelegateCall => ("DELEGATECALL", None),
            CallScheme::StaticCall => ("STATICCALL", Some(U256::ZERO)),
        };
        self.open(CallFrame {
            kind,
            from: inputs.caller,
            to: Some(inputs.target_address),
            value,
            gas: inputs.gas_limit,
            gas_used: 0,
            input: inputs.input.bytes(context),
            output: Bytes::new(),
            error: None,
            revert_reason: None,
            calls: Vec::new(),
            logs: Vec::new(),
        });
        None
    }

    fn call_end(&mut self, _context: &mut CTX, _inputs: &CallInputs, outcome: &mut CallOutcome) {
        if self.stack.last().is_some_and(|f| f.kind.is_empty()) {
            self.stack.pop();
            return;
        }
        let gas = outcome.result.gas;
        let used = gas.limit().saturating_sub(gas.remaining());
        self.close(outcome.result.result, &outcome.result.output, used, None);
    }

    fn create(&mut self, _context: &mut CTX, inputs: &mut CreateInputs) -> Option<CreateOutcome> {
        if !self.recording() {
            self.stack.push(placeholder());
            return None;
        }
        let kind = match inputs.scheme() {
            revm::context_interface::CreateScheme::Create2 { .. } => "CREATE2",
            _ => "CREATE",
        };
        self.open(CallFrame {
            kind,
            from: inputs.caller(),
            to: None,
            value: Some(inputs.value()),
            gas: inputs.gas_limit(),
            gas_used: 0,
            input: inputs.init_code().clone(),
            output: Bytes::new(),
            error: None,
            revert_reason: None,
            calls: Vec::new(),
            logs: Vec::new(),
        });
        None
    }

    fn create_end(
        &mut self,
        _context: &mut CTX,
        _inputs: &CreateInputs,
        outcome: &mut CreateOutcome,
    ) {
        if self.stack.last().is_some_and(|f| f.kind.is_empty()) {
            self.stack.pop();
            return;
        }
        let gas = outcome.result.gas;
        let used = gas.limit().saturating_sub(gas.remaining());
        self.close(
            outcome.result.result,
            &outcome.result.output,
            used,
            outcome.address,
        );
    }

    fn log(&mut self, _context: &mut CTX, log: Log) {
        if !self.config.with_log || self.too_large {
            return;
        }
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        if frame.kind.is_empty() {
            return;
        }
        self.bytes = self
            .bytes
            .saturating_add(log.data.data.len() + 32 * log.topics().len());
        if self.bytes > self.config.max_bytes {
            self.too_large = true;
            return;
        }
        frame.logs.push(FrameLog {
            address: log.address,
            topics: log.topics().to_vec(),
            data: log.data.data.clone(),
            position: frame.calls.len(),
        });
    }
}

/// A frame that is not recorded (under `onlyTopCall`, or past the bound).
fn placeholder() -> CallFrame {
    CallFrame {
        kind: "",
        from: Address::ZERO,
        to: None,
        value: None,
        gas: 0,
        gas_used: 0,
        input: Bytes::new(),
        output: Bytes::new(),
        error: None,
        revert_reason: None,
        calls: Vec::new(),
        logs: Vec::new(),
    }
}
