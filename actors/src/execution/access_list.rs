//! `eth_createAccessList`: the EIP-2930 access list a call would use, found as geth
//! finds it.
//!
//! An [`AccessListTracer`] (a revm [`Inspector`]) records, before each opcode, the
//! storage slots of the executing contract at SLOAD/SSTORE and the addresses named
//! by BALANCE, EXTCODESIZE, EXTCODECOPY, EXTCODEHASH, SELFDESTRUCT and the CALL
//! family, except the sender, the recipient and the precompiles (which are warm
//! anyway) — those appear only with storage slots. The call is re-run with the
//! list found (plus any list the caller gave) until the list no longer changes (at
//! most [`MAX_ROUNDS`] runs, as a new entry can change the path a call takes); the
//! answer is that list and the gas the call uses with it.

use std::collections::{BTreeMap, BTreeSet};

use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes};
use revm::{
    Context, InspectEvm, Inspector, MainBuilder, MainContext,
    bytecode::opcode,
    context::{ContextTr, TxEnv, result::ExecutionResult},
    handler::EthPrecompiles,
    interpreter::{
        Interpreter,
        interpreter::EthInterpreter,
        interpreter_types::{InputsTr, Jumps},
    },
};

use crate::execution::{
    call::{CallError, CallRequest, call_env, halt_message, revert_message},
    chain_config::ChainConfig,
    header::KalgoHeader,
    miner::{MINER_CONTRACT, contract::KalgoPrecompiles},
    state::{StateOverlay, StateReader},
};

/// Most runs of the call while the list settles.
pub const MAX_ROUNDS: usize = 16;

/// Records the accesses geth's access-list tracer records.
#[derive(Debug, Default)]
pub struct AccessListTracer {
    excluded: BTreeSet<Address>,
    list: BTreeMap<Address, BTreeSet<B256>>,
}

impl AccessListTracer {
    /// A tracer that starts from `initial` and leaves out `excluded` addresses
    /// (unless they have slots).
    pub fn new(excluded: BTreeSet<Address>, initial: &AccessList) -> Self {
        let mut list: BTreeMap<Address, BTreeSet<B256>> = BTreeMap::new();
        for item in initial.iter() {
            list.entry(item.address)
                .or_default()
                .extend(item.storage_keys.iter().copied());
        }
        Self { excluded, list }
    }

    fn add_address(&mut self, address: Address) {
        if !self.excluded.contains(&address) {
            self.list.entry(address).or_default();
        }
    }

    /// The list recorded, ordered by address and slot.
    pub fn access_list(&self) -> AccessList {
        AccessList(
            self.list
                .iter()
                .map(|(address, slots)| AccessListItem {
                    address: *address,
                    storage_keys: slots.iter().copied().collect(),
                })
                .collect(),
        )
    }
}

impl<CTX: ContextTr> Inspector<CTX, EthInterpreter> for AccessListTracer {
    fn step(&mut self, interp: &mut Interpreter<EthInterpreter>, _context: &mut CTX) {
        let stack = interp.stack.data();
        let n = stack.len();
        let word_address = |i: usize| Address::from_word(B256::from(stack[i]));
        match interp.bytecode.opcode() {
            opcode::SLOAD | opcode::SSTORE if n >= 1 => {
                self.list
                    .entry(interp.input.target_address())
                    .or_default()
                    .insert(B256::from(stack[n - 1]));
            }
            opcode::EXTCODECOPY
            | opcode::EXTCODEHASH
            | opcode::EXTCODESIZE
            | opcode::BALANCE
            | opcode::SELFDESTRUCT
                if n >= 1 =>
            {
                self.add_address(word_address(n - 1));
            }
            opcode::DELEGATECALL | opcode::CALL | opcode::STATICCALL | opcode::CALLCODE
                if n >= 5 =>
            {
                self.add_address(word_address(n - 2));
            }
            _ => {}
        }
    }
}

/// The answer of `eth_createAccessList`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessListResult {
    /// The list.
    pub access_list: AccessList,
    /// Gas the call uses with it.
    pub gas_used: u64,
    /// Why the call failed with it, if it did (geth's text).
    pub error: Option<String>,
    /// The revert data, if it reverted.
    pub revert: Option<Bytes>,
}

/// `eth_createAccessList`: the access list of `req` run as `eth_call` runs it on
/// `state` (the state after `header`), with at most `gas_cap` gas.
pub fn create_access_list<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_cap: u64,
) -> Result<AccessListResult, CallError> {
    let from = req.from.unwrap_or(Address::ZERO);
    let to = match req.to {
        Some(to) => to,
        None => {
            let nonce = match req.nonce {
                Some(n) => n,
                None => state.account(&from)?.map_or(0, |a| a.nonce),
            };
            from.create(nonce)
        }
    };
    let spec = config.spec_at(header.number(), header.eth.timestamp);
    let mut excluded: BTreeSet<Address> = EthPrecompiles::new(spec)
        .warm_addresses()
        .iter()
        .copied()
        .collect();
    if config.miner_contract().is_some() {
        excluded.insert(MINER_CONTRACT);
    }
    excluded.insert(from);
    excluded.insert(to);
    // geth's loop: run with the list so far; stop when the run finds no more.
    let mut req = req.clone();
    let mut rounds = 0;
    loop {
        let (cfg, env, tx) = call_env(config, header, &req, gas_cap);
        let (result, list) = run(state, cfg, env, tx, config, &excluded, &req.access_list)?;
        rounds += 1;
        if list == req.access_list || rounds == MAX_ROUNDS {
            return Ok(answer(req.access_list, result));
        }
        req.access_list = list;
    }
}

fn answer(access_list: AccessList, result: ExecutionResult) -> AccessListResult {
    let gas_used = result.tx_gas_used();
    let (error, revert) = match result {
        ExecutionResult::Success { .. } => (None, None),
        ExecutionResult::Revert { output, .. } => (Some(revert_message(&output)), Some(output)),
        ExecutionResult::Halt { reason, .. } => (Some(halt_message(&reason)), None),
    };
    AccessListResult {
        access_list,
        gas_used,
        error,
        revert,
    }
}

/// One run of the call under an access-list tracer; the outcome and the list.
fn run<S: StateReader + ?Sized>(
    state: &S,
    cfg: revm::context::CfgEnv,
    env: revm::context::BlockEnv,
    tx: TxEnv,
    config: &ChainConfig,
    excluded: &BTreeSet<Address>,
    initial: &AccessList,
) -> Result<(ExecutionResult, AccessList), CallError> {
    let spec = cfg.spec;
    let mut evm = Context::mainnet()
        .with_db(StateOverlay::new(state, spec))
        .with_cfg(cfg)
        .with_block(env)
        .build_mainnet_with_inspector(AccessListTracer::new(excluded.clone(), initial))
        .with_precompiles(KalgoPrecompiles::new(spec, config.miner_contract()));
    let result = evm.inspect_one_tx(tx).map_err(|e| match e {
        revm::context::result::EVMError::Database(e) => CallError::Storage(e),
        other => CallError::Invalid(other.to_string()),
    })?;
    Ok((result, evm.inspector.access_list()))
}
