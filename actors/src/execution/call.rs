//! Executing a message call without a transaction: `eth_call` and
//! `eth_estimateGas` over any committed state, with geth's semantics.
//!
//! The call runs with the block environment of the header it is made at (number,
//! timestamp, coinbase, base fee, seed as PREVRANDAO) and kalgo's precompiles (the
//! miner contract included). Its changes are discarded. As in geth: the nonce is not
//! checked; a call without a gas price pays nothing and ignores the base fee; a call
//! without a gas limit gets the block gas limit (capped); an unknown sender is an
//! empty account.

use alloy_eips::{eip2930::AccessList, eip7702::SignedAuthorization};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{Panic, Revert, SolError};
use revm::context::{
    BlockEnv, CfgEnv, TxEnv,
    result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction},
};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use revm::primitives::hardfork::SpecId;

use crate::execution::{
    block::{BlockAttributes, block_env, cfg_env},
    chain_config::ChainConfig,
    executor::TxExecutor,
    header::KalgoHeader,
    state::{StateOverlay, StateReader, StorageError},
};

/// The fields of a call (`eth_call`'s transaction object), all optional but `input`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// Sender (zero address if absent).
    pub from: Option<Address>,
    /// Recipient; `None` executes `input` as init code.
    pub to: Option<Address>,
    /// Gas limit (the block gas limit if absent; capped by the node's gas cap).
    pub gas: Option<u64>,
    /// Legacy gas price.
    pub gas_price: Option<u128>,
    /// EIP-1559 fee cap.
    pub max_fee_per_gas: Option<u128>,
    /// EIP-1559 tip cap.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Wei sent (zero if absent).
    pub value: Option<U256>,
    /// Calldata or init code.
    pub input: Bytes,
    /// Nonce (not checked).
    pub nonce: Option<u64>,
    /// EIP-2930 access list (used from Berlin on; the call then runs as a typed
    /// transaction, 1 or 2).
    pub access_list: AccessList,
    /// EIP-7702 authorizations: when not empty the call runs as a set-code
    /// transaction (type 4), which needs Prague and a recipient.
    pub authorization_list: Vec<SignedAuthorization>,
}

/// Why a call with `authorizationList` fails on a block before Prague.
pub const PRE_PRAGUE_AUTHORIZATIONS: &str =
    "authorizationList needs Prague (EIP-7702), not active at this block";

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned normally.
    Success {
        output: Bytes,
        /// Gas used (after refunds).
        gas_used: u64,
        /// Gas used before refunds.
        gas_spent: u64,
    },
    /// Reverted with data.
    Revert {
        output: Bytes,
        /// Gas used.
        gas_used: u64,
    },
    /// Halted (out of gas, invalid opcode, …): all gas consumed.
    Halt {
        /// revm's reason.
        reason: HaltReason,
        /// Gas used.
        gas_used: u64,
    },
}

/// Why a call could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Reading state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The call is not valid as a transaction (funds, fee, gas limit, …).
    #[error("{0}")]
    Invalid(String),
    /// `eth_estimateGas`: the call reverts (data in the outcome).
    #[error("execution reverted")]
    Reverted(Bytes),
    /// `eth_estimateGas`: the call fails even with the most gas allowed.
    #[error("gas required exceeds allowance ({0})")]
    GasAllowance(u64),
    /// `eth_estimateGas`: the call halts for a reason other than gas (an invalid
    /// opcode or jump, a stack error, …) with the most gas allowed: no gas limit
    /// makes it succeed, the call or the contract must change. Shown as revm's
    /// name of the reason (`InvalidJump`), as before.
    #[error("{0:?}")]
    Halted(HaltReason),
}

/// geth's message for a halted call: `out of gas`, `invalid opcode`, else
/// `execution halted: ` and revm's name of the reason.
pub fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::InvalidFEOpcode | HaltReason::OpcodeNotFound => "invalid opcode".into(),
        other => format!("execution halted: {other:?}"),
    }
}

/// The revert message geth shows: `execution reverted`, with the reason of a
/// Solidity `Error(string)` or the kind of a `Panic(uint256)` when the data is one.
pub fn revert_message(data: &[u8]) -> String {
    if let Ok(revert) = Revert::abi_decode(data) {
        return format!("execution reverted: {}", revert.reason());
    }
    if let Ok(panic) = Panic::abi_decode(data) {
        let kind = panic.kind().map_or_else(
            || format!("unknown panic code {:#x}", panic.code),
            |k| k.as_str().to_string(),
        );
        return format!("execution reverted: {kind}");
    }
    "execution reverted".to_string()
}

fn tx_env(config: &ChainConfig, req: &CallRequest, gas_limit: u64, spec: SpecId) -> TxEnv {
    let access_list = if spec.is_enabled_in(SpecId::BERLIN) {
        req.access_list.clone()
    } else {
        AccessList::default()
    };
    let (tx_type, gas_price, priority) = match (req.max_fee_per_gas, req.gas_price) {
        (Some(max_fee), _) => (
            2u8,
            max_fee,
            Some(req.max_priority_fee_per_gas.unwrap_or(0).min(max_fee)),
        ),
        (None, Some(price)) => (0u8, price, None),
        // No fee given: geth runs the call at price 0 and ignores the base fee
        // (`run` gives the block a zero base fee then).
        (None, None) => (0u8, 0, None),
    };
    // Legacy transactions carry no access list.
    let tx_type = if tx_type == 0 && !access_list.is_empty() {
        1
    } else {
        tx_type
    };
    // Authorizations make a set-code transaction, which has EIP-1559 fees (a
    // legacy price is both cap and tip, as geth converts it).
    let (tx_type, priority) = if req.authorization_list.is_empty() {
        (tx_type, priority)
    } else {
        (4, priority.or(Some(gas_price)))
    };
    let mut tx = TxEnv {
        tx_type,
        caller: req.from.unwrap_or(Address::ZERO),
        gas_limit,
        gas_price,
        kind: match req.to {
            Some(to) => TxKind::Call(to),
            None => TxKind::Create,
        },
        value: req.value.unwrap_or_default(),
        data: req.input.clone(),
        nonce: req.nonce.unwrap_or(0),
        chain_id: Some(config.chain_id()),
        gas_priority_fee: priority,
        access_list,
        ..Default::default()
    };
    tx.set_signed_authorization(req.authorization_list.clone());
    tx
}

/// The block attributes of a stored header (its own number, time, coinbase, seed).
pub(crate) fn attributes(header: &KalgoHeader) -> BlockAttributes {
    BlockAttributes {
        timestamp: header.eth.timestamp,
        coinbase: header.eth.beneficiary,
        gas_limit: header.eth.gas_limit,
        seed: header.seed,
        proposer: header.proposer,
        total_balance_of_miners: header.total_balance_of_miners,
        extra_data: header.eth.extra_data.clone(),
    }
}

/// The EVM, block and transaction environments of `req` run with `gas_limit` at
/// `header` (geth's `eth_call` rules: no nonce check; no fee = no base fee).
fn env(
    config: &ChainConfig,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_limit: u64,
) -> (CfgEnv, BlockEnv, TxEnv) {
    let number = header.number();
    let spec = config.spec_at(number, header.eth.timestamp);
    let mut cfg = cfg_env(config, spec);
    cfg.disable_nonce_check = true;
    let no_fee = req.gas_price.unwrap_or(0) == 0 && req.max_fee_per_gas.unwrap_or(0) == 0;
    let base_fee = if no_fee {
        None
    } else {
        header.eth.base_fee_per_gas
    };
    let block = block_env(number, &attributes(header), base_fee, spec);
    (cfg, block, tx_env(config, req, gas_limit, spec))
}

/// The environments [`call`] runs `req` in (for `debug_traceCall`).
pub(crate) fn call_env(
    config: &ChainConfig,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_cap: u64,
) -> (CfgEnv, BlockEnv, TxEnv) {
    let gas = req.gas.unwrap_or(header.eth.gas_limit).min(gas_cap);
    env(config, header, req, gas)
}

/// Runs `req` once with `gas_limit` on `state` (the state after `header`).
fn run<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_limit: u64,
) -> Result<CallOutcome, CallError> {
    let (cfg, block, tx) = env(config, header, req, gas_limit);
    let spec = cfg.spec;
    let mut executor = TxExecutor::new(
        StateOverlay::new(state, spec),
        cfg,
        block,
        config.miner_contract(),
    );
    let result = executor.execute(tx).map_err(|e| match e {
        EVMError::Database(e) => CallError::Storage(e),
        EVMError::Transaction(InvalidTransaction::LackOfFundForMaxFee { fee, balance }) => {
            CallError::Invalid(format!(
                "insufficient funds for gas * price + value: have {balance} want {fee}"
            ))
        }
        EVMError::Transaction(InvalidTransaction::Eip7702NotSupported) => {
            CallError::Invalid(PRE_PRAGUE_AUTHORIZATIONS.to_string())
        }
        other => CallError::Invalid(other.to_string()),
    })?;
    Ok(match result {
        ExecutionResult::Success { gas, output, .. } => CallOutcome::Success {
            output: output.into_data(),
            gas_used: gas.tx_gas_used(),
            gas_spent: gas.total_gas_spent(),
        },
        ExecutionResult::Revert { gas, output, .. } => CallOutcome::Revert {
            output,
            gas_used: gas.tx_gas_used(),
        },
        ExecutionResult::Halt { reason, gas, .. } => CallOutcome::Halt {
            reason,
            gas_used: gas.tx_gas_used(),
        },
    })
}

/// `eth_call`: executes `req` on `state` (the state after `header`), with at most
/// `gas_cap` gas.
pub fn call<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_cap: u64,
) -> Result<CallOutcome, CallError> {
    let gas = req.gas.unwrap_or(header.eth.gas_limit).min(gas_cap);
    run(config, state, header, req, gas)
}

/// Intrinsic gas floor of any transaction.
const TX_GAS: u64 = 21_000;

/// The intrinsic gas of `req` as a transaction at `header`: 21000, calldata,
/// creation, access list and authorizations, and from Prague the calldata floor
/// (EIP-7623). No execution can succeed with less.
fn intrinsic_gas(config: &ChainConfig, header: &KalgoHeader, req: &CallRequest) -> u64 {
    let spec = config.spec_at(header.number(), header.eth.timestamp);
    let tx = tx_env(config, req, 0, spec);
    let gas = calculate_initial_tx_gas_for_tx(&tx, spec, None);
    gas.initial_regular_gas
        .saturating_add(gas.initial_state_gas)
        .max(gas.floor_gas)
}

/// `eth_estimateGas`: the least gas limit with which `req` succeeds on `state`,
/// found by binary search as geth does (an optimistic first guess from the gas
/// used, then halving until within 1.5 %). A revert is reported with its data.
pub fn estimate_gas<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    header: &KalgoHeader,
    req: &CallRequest,
    gas_cap: u64,
) -> Result<u64, CallError> {
    let mut hi = match req.gas {
        Some(g) if g >= TX_GAS => g,
        _ => header.eth.gas_limit,
    }
    .min(gas_cap);
    let fee_cap = req.max_fee_per_gas.or(req.gas_price).unwrap_or(0);
    if fee_cap > 0 {
        let balance = match req.from {
            Some(from) => state.account(&from)?.map_or(U256::ZERO, |a| a.balance),
            None => U256::ZERO,
        };
        let value = req.value.unwrap_or_default();
        let available = balance
            .checked_sub(value)
            .ok_or_else(|| CallError::Invalid("insufficient funds for transfer".to_string()))?;
        let allowance = available / U256::from(fee_cap);
        if allowance < U256::from(hi) {
            hi = allowance.to::<u64>();
        }
    }
    let intrinsic = intrinsic_gas(config, header, req);
    // geth: a plain transfer to an account without code first tries its intrinsic
    // gas (21000 plus the access list); only if that fails does the search run.
    if let Some(to) = req.to
        && req.input.is_empty()
        && intrinsic <= hi
        && state
            .account(&to)?
            .is_none_or(|a| a.code_hash == revm::primitives::KECCAK_EMPTY)
        && matches!(
            run(config, state, header, req, intrinsic),
            Ok(CallOutcome::Success { .. })
        )
    {
        return Ok(intrinsic);
    }
    let first = run(config, state, header, req, hi)?;
    let (gas_used, gas_spent) = match first {
        CallOutcome::Success {
            gas_used,
            gas_spent,
            ..
        } => (gas_used, gas_spent),
        CallOutcome::Revert { output, .. } => return Err(CallError::Reverted(output)),
        CallOutcome::Halt {
            reason: HaltReason::OutOfGas(_),
            ..
        } => {
            return Err(CallError::GasAllowance(hi));
        }
        CallOutcome::Halt { reason, .. } => return Err(CallError::Halted(reason)),
    };
    let ok = |gas: u64| -> Result<bool, CallError> {
        match run(config, state, header, req, gas) {
            Ok(CallOutcome::Success { .. }) => Ok(true),
            Ok(_) => Ok(false),
            // Storage failures must surface, not read as "too little gas".
            Err(CallError::Storage(e)) => Err(CallError::Storage(e)),
            // Below the intrinsic gas, for instance.
            Err(_) => Ok(false),
        }
    };
    let mut lo = gas_used.max(intrinsic).saturating_sub(1);
    // geth's optimistic guess: what was spent plus the call stipend, ×64/63.
    let optimistic = (gas_spent.max(gas_used) + 2300) * 64 / 63;
    if optimistic < hi {
        if ok(optimistic)? {
            hi = optimistic;
        } else {
            lo = optimistic;
        }
    }
    while lo + 1 < hi {
        if (hi - lo) * 1000 / hi < 15 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_primitives::{B256, hex};

    fn setup() -> (ChainConfig, MemoryState, KalgoHeader) {
        let config = ChainConfig::new_chain(1337);
        let mut state = MemoryState::default();
        let code = |s: &str| Bytes::from(hex::decode(s).unwrap_or_default());
        // Returns 42.
        state
            .insert_account(
                Address::repeat_byte(1),
                0,
                U256::ZERO,
                code("602a60005260206000f3"),
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
        // Stores 42 in slot 0.
        state
            .insert_account(
                Address::repeat_byte(3),
                0,
                U256::ZERO,
                code("602a60005500"),
                [],
            )
            .ok();
        // Halts on the designated invalid opcode 0xfe.
        state
            .insert_account(Address::repeat_byte(4), 0, U256::ZERO, code("fe"), [])
            .ok();
        state
            .insert_account(
                Address::repeat_byte(9),
                0,
                U256::from(10u64.pow(18)),
                Bytes::new(),
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
    fn call_returns_output_or_revert_data() -> Result<(), CallError> {
        let (config, state, header) = setup();
        let out = call(&config, &state, &header, &req(1), 50_000_000)?;
        assert!(
            matches!(&out, CallOutcome::Success { output, .. } if output[31] == 42),
            "{out:?}"
        );
        let out = call(&config, &state, &header, &req(2), 50_000_000)?;
        assert!(
            matches!(&out, CallOutcome::Revert { output, .. } if output.as_ref() == [0xde, 0xad, 0xbe, 0xef]),
            "{out:?}"
        );
        // An unknown sender with no gas price can call (geth's eth_call).
        let mut anon = req(1);
        anon.from = Some(Address::repeat_byte(0x77));
        assert!(matches!(
            call(&config, &state, &header, &anon, 50_000_000)?,
            CallOutcome::Success { .. }
        ));
        // Paying more than the balance is refused.
        let mut rich = req(1);
        rich.gas_price = Some(10u128.pow(12));
        rich.gas = Some(10_000_000);
        assert!(matches!(
            call(&config, &state, &header, &rich, 50_000_000),
            Err(CallError::Invalid(_))
        ));
        Ok(())
    }

    #[test]
    fn estimate_finds_enough_gas_and_reports_reverts() -> Result<(), CallError> {
        let (config, state, header) = setup();
        let est = estimate_gas(&config, &state, &header, &req(3), 50_000_000)?;
        let CallOutcome::Success { gas_used, .. } = run(&config, &state, &header, &req(3), est)?
        else {
            panic!("the estimate is not enough gas");
        };
        assert!(
            est >= gas_used && est <= gas_used * 11 / 10,
            "{est} vs {gas_used}"
        );
        assert!(!matches!(
            run(&config, &state, &header, &req(3), gas_used - 1)?,
            CallOutcome::Success { .. }
        ));
        assert!(matches!(
            estimate_gas(&config, &state, &header, &req(2), 50_000_000),
            Err(CallError::Reverted(d)) if d.as_ref() == [0xde, 0xad, 0xbe, 0xef]
        ));
        // A plain transfer to an account without code.
        let mut transfer = req(0x55);
        transfer.value = Some(U256::from(1));
        assert_eq!(
            estimate_gas(&config, &state, &header, &transfer, 50_000_000)?,
            21_000
        );
        Ok(())
    }

    #[test]
    fn transfer_estimates_count_the_access_list() -> Result<(), CallError> {
        use alloy_eips::eip2930::AccessListItem;
        let (config, state, header) = setup();
        let mut transfer = req(0x55);
        transfer.value = Some(U256::from(7));
        let item = |keys: usize| AccessListItem {
            address: Address::repeat_byte(0x66),
            storage_keys: vec![alloy_primitives::B256::ZERO; keys],
        };
        for (list, want) in [
            (vec![], 21_000),
            (vec![item(0)], 23_400),
            (vec![item(1)], 25_300),
        ] {
            transfer.access_list = AccessList(list);
            assert_eq!(
                estimate_gas(&config, &state, &header, &transfer, 50_000_000)?,
                want
            );
        }
        // A call to code: the search starts at the intrinsic gas with the list.
        let mut store = req(3);
        let plain = estimate_gas(&config, &state, &header, &store, 50_000_000)?;
        store.access_list = AccessList(vec![item(1)]);
        let listed = estimate_gas(&config, &state, &header, &store, 50_000_000)?;
        assert!(listed > plain + 4_000, "{listed} vs {plain}");
        assert!(matches!(
            run(&config, &state, &header, &store, listed)?,
            CallOutcome::Success { .. }
        ));
        Ok(())
    }

    #[test]
    fn calls_with_authorizations_run_the_delegate_before_prague_they_are_refused()
    -> Result<(), CallError> {
        use alloy_signer::SignerSync;
        let (config, state, header) = setup();
        let authority = alloy_signer_local::PrivateKeySigner::from_bytes(&B256::repeat_byte(7))
            .unwrap_or_else(|_| unreachable!());
        // Delegates to 0x0101…01, which returns 42.
        let auth = alloy_eips::eip7702::Authorization {
            chain_id: U256::from(1337),
            address: Address::repeat_byte(1),
            nonce: 0,
        };
        let sig = authority
            .sign_hash_sync(&auth.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        let mut through = CallRequest {
            from: Some(Address::repeat_byte(9)),
            to: Some(authority.address()),
            ..Default::default()
        };
        let out = call(&config, &state, &header, &through, 50_000_000)?;
        assert!(matches!(&out, CallOutcome::Success { output, .. } if output.is_empty()));
        through.authorization_list = vec![auth.into_signed(sig)];
        let out = call(&config, &state, &header, &through, 50_000_000)?;
        assert!(
            matches!(&out, CallOutcome::Success { output, .. } if output.len() == 32 && output[31] == 42),
            "{out:?}"
        );
        // The estimate counts the authorization (25000) and is enough.
        let est = estimate_gas(&config, &state, &header, &through, 50_000_000)?;
        assert!(est > 21_000 + 12_500, "{est}");
        assert!(matches!(
            run(&config, &state, &header, &through, est)?,
            CallOutcome::Success { .. }
        ));
        // Before Prague.
        let mut cancun = config.clone();
        cancun.prague_time = None;
        assert!(matches!(
            call(&cancun, &state, &header, &through, 50_000_000),
            Err(CallError::Invalid(m)) if m == PRE_PRAGUE_AUTHORIZATIONS
        ));
        Ok(())
    }

    #[test]
    fn a_halting_call_reports_revm_s_reason() -> Result<(), CallError> {
        let (config, state, header) = setup();
        let out = call(&config, &state, &header, &req(4), 50_000_000)?;
        assert!(
            matches!(
                &out,
                CallOutcome::Halt {
                    reason: HaltReason::InvalidFEOpcode,
                    ..
                }
            ),
            "{out:?}"
        );
        let halted = estimate_gas(&config, &state, &header, &req(4), 50_000_000);
        assert!(
            matches!(halted, Err(CallError::Halted(HaltReason::InvalidFEOpcode))),
            "{halted:?}"
        );
        // The text eth_estimateGas answers with is revm's name, as before.
        if let Err(e) = halted {
            assert_eq!(e.to_string(), "InvalidFEOpcode");
        }
        // Too little gas is a gas allowance, not a halt.
        let mut starved = req(3);
        starved.gas = Some(21_010);
        assert!(matches!(
            estimate_gas(&config, &state, &header, &starved, 50_000_000),
            Err(CallError::GasAllowance(21_010))
        ));
        Ok(())
    }

    #[test]
    fn halt_messages_follow_geth() {
        use revm::context::result::OutOfGasError;
        assert_eq!(
            halt_message(&HaltReason::OutOfGas(OutOfGasError::Basic)),
            "out of gas"
        );
        assert_eq!(halt_message(&HaltReason::OpcodeNotFound), "invalid opcode");
        assert_eq!(halt_message(&HaltReason::InvalidFEOpcode), "invalid opcode");
        assert_eq!(
            halt_message(&HaltReason::InvalidJump),
            "execution halted: InvalidJump"
        );
    }

    #[test]
    fn revert_messages_follow_geth() {
        let reason = Revert::from("unlucky").abi_encode();
        assert_eq!(revert_message(&reason), "execution reverted: unlucky");
        let panic = Panic {
            code: U256::from(0x11),
        }
        .abi_encode();
        assert!(revert_message(&panic).starts_with("execution reverted: arithmetic"));
        assert_eq!(revert_message(&[0xde, 0xad]), "execution reverted");
    }
}
