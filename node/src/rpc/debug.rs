//! The `debug` namespace: `debug_traceTransaction`, `debug_traceCall` and
//! `debug_traceBlockByNumber`/`ByHash` with geth's default struct logger (see
//! [`actors::execution::trace`]).
//!
//! Served on IPC always, over HTTP/WebSocket only when `debug` is listed in
//! `--http.api`/`--ws.api` (as geth, it is not in the default list: a trace
//! re-executes a block and can be large). The answer is geth's
//! `{gas, failed, returnValue, structLogs}`; each log is `{pc, op, gas, gasCost,
//! depth, error?, stack?, returnData?, memory?, storage?, refund?}` with stack
//! values as `0x` quantities, memory as 32-byte words and storage as 32-byte
//! keys and values, both in hex without `0x` (geth's legacy JSON). The other tracer
//! is geth's `callTracer` (`{"tracer": "callTracer", "tracerConfig": {onlyTopCall,
//! withLog}}`, see [`actors::execution::call_tracer`]); any other `tracer` is
//! refused. `debug_traceCall` takes `stateOverrides` as `eth_call` does (see
//! [`crate::rpc::overrides`]); the other methods refuse them.

use actors::execution::{
    call_tracer::CallFrame,
    query,
    trace::{
        self, CallTracerOptions, StructLog, TraceError, TraceOptions, TraceOutput, TraceResult,
    },
};
use alloy_primitives::{B256, hex};
use jsonrpsee::RpcModule;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde_json::Value;

use crate::rpc::{
    context::{Ctx, header_not_found},
    error::{RpcError, RpcResult},
    overrides::{Overridden, StateOverrides},
    params::{Args, BlockId, BlockTag, CallObject, block_id_arg, block_tag_arg},
};

/// geth's trace configuration (`debug_trace*`'s last argument). Unknown fields are
/// refused, so a misspelt option is an error rather than ignored.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TraceConfig {
    /// Leave out the stack.
    #[serde(default)]
    pub disable_stack: bool,
    /// Leave out storage.
    #[serde(default)]
    pub disable_storage: bool,
    /// Record memory.
    #[serde(default)]
    pub enable_memory: bool,
    /// Older geth's inverse of `enableMemory` (memory is off by default anyway).
    #[serde(default)]
    pub disable_memory: bool,
    /// Record the return-data buffer.
    #[serde(default)]
    pub enable_return_data: bool,
    /// Older geth's inverse of `enableReturnData`.
    #[serde(default)]
    pub disable_return_data: bool,
    /// Keep at most this many logs (0 = all, within the node's bound).
    pub limit: Option<u64>,
    /// A named tracer: only `callTracer` (none = the struct logger).
    pub tracer: Option<String>,
    /// `callTracer`'s configuration (`onlyTopCall`, `withLog`).
    pub tracer_config: Option<Value>,
    /// geth's time limit (accepted; kalgo bounds traces by size and gas instead).
    pub timeout: Option<String>,
    /// geth's re-execution depth (accepted; every state is stored).
    pub reexec: Option<u64>,
    /// `debug_traceCall` state overrides (as `eth_call`'s third argument).
    pub state_overrides: Option<Value>,
    /// `debug_traceCall` block overrides: not supported.
    pub block_overrides: Option<Value>,
}

impl TraceConfig {
    /// The execution layer's options within the node's bounds.
    fn options(&self, ctx: &Ctx) -> RpcResult<TraceOptions> {
        let call_tracer = match self.tracer.as_deref() {
            None => {
                if self.tracer_config.is_some() {
                    return Err(RpcError::InvalidParams(
                        "tracerConfig needs a tracer (callTracer)".into(),
                    ));
                }
                None
            }
            Some("callTracer") => {
                let c: CallTracerConfigJson = match &self.tracer_config {
                    None => CallTracerConfigJson::default(),
                    Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                        RpcError::InvalidParams(format!("invalid callTracer config: {e}"))
                    })?,
                };
                Some(CallTracerOptions {
                    only_top_call: c.only_top_call,
                    with_log: c.with_log,
                })
            }
            Some(t) => {
                return Err(RpcError::InvalidParams(format!(
                    "tracer {t:?} is not supported: kalgo has the default struct logger (no `tracer`) and callTracer"
                )));
            }
        };
        if self.block_overrides.is_some() {
            return Err(RpcError::InvalidParams(
                "block overrides are not supported in debug_traceCall".into(),
            ));
        }
        Ok(TraceOptions {
            disable_stack: self.disable_stack,
            disable_storage: self.disable_storage,
            enable_memory: self.enable_memory && !self.disable_memory,
            enable_return_data: self.enable_return_data && !self.disable_return_data,
            limit: usize::try_from(self.limit.unwrap_or(0)).unwrap_or(usize::MAX),
            max_logs: ctx.limits.max_trace_logs,
            max_bytes: ctx.limits.max_trace_bytes,
            call_tracer,
        })
    }
}

/// `callTracer`'s `tracerConfig`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallTracerConfigJson {
    #[serde(default)]
    only_top_call: bool,
    #[serde(default)]
    with_log: bool,
}

impl From<TraceError> for RpcError {
    fn from(e: TraceError) -> Self {
        match e {
            TraceError::TooLarge { .. } => Self::Limit(e.to_string()),
            other => Self::Server(other.to_string()),
        }
    }
}

/// A trace serialized straight into the response, in geth's JSON (no
/// intermediate `Value`: traces can hold hundreds of thousands of logs).
#[derive(Clone)]
pub struct TraceJson(pub TraceOutput);

struct LogJson<'a>(&'a StructLog);

impl serde::Serialize for LogJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("pc", &l.pc)?;
        m.serialize_entry("op", &l.op_name())?;
        m.serialize_entry("gas", &l.gas)?;
        m.serialize_entry("gasCost", &l.gas_cost)?;
        m.serialize_entry("depth", &l.depth)?;
        if let Some(e) = &l.error {
            m.serialize_entry("error", e)?;
        }
        if let Some(stack) = &l.stack {
            let words: Vec<String> = stack.iter().map(|v| format!("{v:#x}")).collect();
            m.serialize_entry("stack", &words)?;
        }
        if let Some(r) = &l.return_data {
            m.serialize_entry("returnData", &hex::encode_prefixed(r))?;
        }
        if let Some(mem) = &l.memory
            && !mem.is_empty()
        {
            let words: Vec<String> = mem.chunks(32).map(hex::encode).collect();
            m.serialize_entry("memory", &words)?;
        }
        if let Some(storage) = &l.storage {
            let slots: std::collections::BTreeMap<String, String> = storage
                .iter()
                .map(|(k, v)| (hex::encode(k), hex::encode(v)))
                .collect();
            m.serialize_entry("storage", &slots)?;
        }
        if l.refund != 0 {
            m.serialize_entry("refund", &l.refund)?;
        }
        m.end()
    }
}

struct LogsJson<'a>(&'a [StructLog]);

impl serde::Serialize for LogsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for l in self.0 {
            seq.serialize_element(&LogJson(l))?;
        }
        seq.end()
    }
}

fn trace_fields<S: serde::Serializer>(t: &TraceResult, s: S) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct("ExecutionResult", 4)?;
    st.serialize_field("gas", &t.gas)?;
    st.serialize_field("failed", &t.failed)?;
    st.serialize_field("returnValue", &hex::encode_prefixed(&t.return_value))?;
    st.serialize_field("structLogs", &LogsJson(&t.struct_logs))?;
    st.end()
}

fn output_fields<S: serde::Serializer>(t: &TraceOutput, s: S) -> Result<S::Ok, S::Error> {
    match t {
        TraceOutput::Struct(t) => trace_fields(t, s),
        TraceOutput::Call(frame) => FrameJson(frame).serialize(s),
    }
}

/// One `callTracer` frame in geth's JSON.
struct FrameJson<'a>(&'a CallFrame);

impl serde::Serialize for FrameJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", f.kind)?;
        m.serialize_entry("from", &f.from)?;
        if let Some(to) = &f.to {
            m.serialize_entry("to", to)?;
        }
        if let Some(v) = &f.value {
            m.serialize_entry("value", &format!("{v:#x}"))?;
        }
        m.serialize_entry("gas", &format!("{:#x}", f.gas))?;
        m.serialize_entry("gasUsed", &format!("{:#x}", f.gas_used))?;
        m.serialize_entry("input", &hex::encode_prefixed(&f.input))?;
        if !f.output.is_empty() {
            m.serialize_entry("output", &hex::encode_prefixed(&f.output))?;
        }
        if let Some(e) = &f.error {
            m.serialize_entry("error", e)?;
        }
        if let Some(r) = &f.revert_reason {
            m.serialize_entry("revertReason", r)?;
        }
        if !f.calls.is_empty() {
            let calls: Vec<FrameJson<'_>> = f.calls.iter().map(FrameJson).collect();
            m.serialize_entry("calls", &calls)?;
        }
        if !f.logs.is_empty() {
            let logs: Vec<serde_json::Value> = f
                .logs
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "address": l.address,
                        "topics": l.topics,
                        "data": l.data,
                        "position": format!("{:#x}", l.position),
                    })
                })
                .collect();
            m.serialize_entry("logs", &logs)?;
        }
        m.end()
    }
}

impl serde::Serialize for TraceJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        output_fields(&self.0, s)
    }
}

fn config_arg(a: &Args, i: usize) -> RpcResult<TraceConfig> {
    Ok(a.optional::<TraceConfig>(i)?.unwrap_or_default())
}

/// The configuration of a trace of committed transactions (no overrides).
fn committed_config_arg(a: &Args, i: usize) -> RpcResult<TraceConfig> {
    let config = config_arg(a, i)?;
    if config.state_overrides.is_some() {
        return Err(RpcError::InvalidParams(
            "stateOverrides apply to debug_traceCall only".into(),
        ));
    }
    Ok(config)
}

/// `debug_traceTransaction(hash, config?)`: re-executes the transaction's block up
/// to it on the parent's state and traces it.
fn trace_transaction(ctx: &Ctx, a: &Args) -> RpcResult<TraceJson> {
    let hash: B256 = a.required(0)?;
    let opts = committed_config_arg(a, 1)?.options(ctx)?;
    let included = query::transaction(&ctx.chain, &hash)?
        .ok_or_else(|| RpcError::Server(format!("transaction {hash} not found")))?;
    let number = included.block_number;
    let stored = query::block(&ctx.chain, number)?.ok_or_else(header_not_found)?;
    let parent = BlockId::Tag(BlockTag::Number(number.saturating_sub(1)));
    let index = usize::try_from(included.index).unwrap_or(usize::MAX);
    ctx.with_state(parent, |state, _| {
        Ok(TraceJson(trace::trace_transaction(
            &ctx.config,
            state,
            &stored.block,
            &stored.senders,
            index,
            opts,
        )?))
    })
}

/// Traces of a whole block, serialized as geth's `[{txHash, result}]`.
#[derive(Clone)]
pub struct BlockTraceJson(pub Vec<(B256, TraceOutput)>);

impl serde::Serialize for BlockTraceJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry<'a> {
            tx_hash: &'a B256,
            result: TraceRef<'a>,
        }
        struct TraceRef<'a>(&'a TraceOutput);
        impl serde::Serialize for TraceRef<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                output_fields(self.0, s)
            }
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (hash, t) in &self.0 {
            seq.serialize_element(&Entry {
                tx_hash: hash,
                result: TraceRef(t),
            })?;
        }
        seq.end()
    }
}

/// `debug_traceBlockByNumber(number, config?)` / `debug_traceBlockByHash(hash,
/// config?)`: every transaction of the block, in one pass over the parent's state;
/// the node's size bound holds for the whole block.
fn trace_block(ctx: &Ctx, number: Option<u64>, config: &TraceConfig) -> RpcResult<BlockTraceJson> {
    let opts = config.options(ctx)?;
    let number = number.ok_or_else(header_not_found)?;
    if number == 0 {
        return Err(RpcError::Server("genesis is not traceable".into()));
    }
    let stored = query::block(&ctx.chain, number)?.ok_or_else(header_not_found)?;
    let parent = BlockId::Tag(BlockTag::Number(number - 1));
    ctx.with_state(parent, |state, _| {
        let traces = trace::trace_block(&ctx.config, state, &stored.block, &stored.senders, opts)?;
        let hashes = stored.block.transactions.iter().map(|t| *t.tx_hash());
        Ok(BlockTraceJson(hashes.zip(traces).collect()))
    })
}

/// `debug_traceCall(call, block?, config?)`: traces a call as `eth_call` runs it.
fn trace_call(ctx: &Ctx, a: &Args) -> RpcResult<TraceJson> {
    let req = a
        .required::<CallObject>(0)?
        .into_request(ctx.config.chain_id())?;
    let block = block_id_arg(a, 1)?;
    let config = config_arg(a, 2)?;
    let opts = config.options(ctx)?;
    let overrides = StateOverrides::from_arg(config.state_overrides.as_ref(), 2)?;
    let gas_cap = ctx.limits.gas_cap;
    ctx.with_state(block, |state, header| {
        let state = Overridden::new(state, &overrides);
        Ok(TraceJson(trace::trace_call(
            &ctx.config,
            &state,
            header,
            &req,
            gas_cap,
            opts,
        )?))
    })
}

/// Registers the `debug` methods.
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_blocking_method("debug_traceTransaction", |p, ctx, _| {
        trace_transaction(&ctx, &Args::new(&p, 2)?)
    })?;
    m.register_blocking_method("debug_traceCall", |p, ctx, _| {
        trace_call(&ctx, &Args::new(&p, 3)?)
    })?;
    m.register_blocking_method("debug_traceBlockByNumber", |p, ctx, _| {
        let a = Args::new(&p, 2)?;
        let number = ctx.resolve_tag(block_tag_arg(&a, 0)?)?;
        trace_block(&ctx, number, &committed_config_arg(&a, 1)?)
    })?;
    m.register_blocking_method("debug_traceBlockByHash", |p, ctx, _| {
        let a = Args::new(&p, 2)?;
        let hash: B256 = a.required(0)?;
        let number = query::number_of(&ctx.chain, &hash)?;
        trace_block(&ctx, number, &committed_config_arg(&a, 1)?)
    })?;
    Ok(())
}
