//! The properties the execution-layer fuzz targets check, written once and shared by
//! the cargo-fuzz targets in `fuzz/` and their proptest twins in
//! `actors/tests/fuzz_twins.rs` (which run in every `cargo test` on stable Rust).
//!
//! Each check takes bytes anyone can send — a raw transaction (RPC, gossip), a
//! gossiped block, calldata for the miner contract — runs them through the code the
//! node runs, and panics only when a property is broken:
//!
//! - [`check_raw_transaction`]: pool admission never panics; a rejected transaction
//!   changes nothing; an admitted one is pooled once (a second copy is refused);
//!   whatever decodes re-encodes to bytes that decode to the same transaction.
//! - [`check_block_bytes`]: block decoding never panics and is stable under
//!   re-encoding; validating a decoded block against a state that funds its senders
//!   never panics, and a block that validates re-executes to exactly its header.
//! - [`check_miner_call`]: any calldata, caller, value and height sent to the miner
//!   contract (Kaleido §3.2) executes without panicking; a call that fails or
//!   answers `false` writes no storage and emits no event (Kaleido B2/B3); views
//!   never write; a successful `set` emits exactly one `Added` or `Updated`, a
//!   successful `heartbeat` exactly one `Heartbeat`.
//!
//! The checks build their fixtures from fuzzer input, so every input is
//! self-contained and a crash reproduces from its bytes alone.

use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use revm::context::{BlockEnv, TxEnv, result::ExecutionResult};

use crate::consensus::host::{decode_block, encode_block};
use crate::execution::{
    block::{cfg_env, validate_block},
    chain_config::ChainConfig,
    executor::TxExecutor,
    header::KalgoHeader,
    memory_state::MemoryState,
    miner::{MINER_CONTRACT, MINER_CONTRACT_CODE, abi::IMiner, layout::genesis_storage},
    pool::{PoolConfig, TxPool},
    state::StateOverlay,
};
use spec::registration::Registration;

/// Chain id of the fixtures.
pub const CHAIN_ID: u64 = 1337;
/// Balance given to every sender the fixtures fund (1000 ether).
const FUNDS: u128 = 1_000 * 1_000_000_000_000_000_000;
/// Most transactions of a fuzzed block that get funded (bounds the work per input).
const MAX_FUNDED: usize = 64;
/// The interval size of the miner-contract fixture.
pub const INTERVAL: u64 = 1000;

/// The chain configurations the checks run on: a latest-fork chain and Kaleido's
/// Byzantium chain. `byzantium` picks the latter.
pub fn config(byzantium: bool) -> ChainConfig {
    let mut c = if byzantium {
        ChainConfig::kaleido(CHAIN_ID)
    } else {
        ChainConfig::new_chain(CHAIN_ID)
    };
    if let Some(a) = c.algorand.as_mut() {
        a.interval_size = INTERVAL;
    }
    c
}

/// A state in which each of `addresses` holds 1000 ether.
pub fn funded_state(addresses: impl IntoIterator<Item = Address>) -> MemoryState {
    let mut state = MemoryState::default();
    for a in addresses {
        // Inserting into an in-memory state only fails on a trie inconsistency,
        // which would be a bug worth a crash report.
        if let Err(e) = state.insert_account(a, 0, U256::from(FUNDS), Bytes::new(), []) {
            panic!("fixture: funding {a}: {e}");
        }
    }
    state
}

/// What a check saw (so tests can show that real inputs reach the deep paths).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The bytes do not decode.
    Undecodable,
    /// Decoded but refused (invalid transaction or block, or a call that failed or
    /// answered `false`).
    Refused,
    /// Admitted to the pool, validated, or a call that answered `true` / returned data.
    Accepted,
}

/// The gas limit of [`fixture_parent`] (and of the sample blocks built on it).
pub const FIXTURE_GAS_LIMIT: u64 = 63_000_000;

/// The parent every fuzzed block is validated on: an empty header with a
/// 63 M gas limit (a block must keep its parent's limit, near enough).
pub fn fixture_parent() -> KalgoHeader {
    let mut parent = KalgoHeader::default();
    parent.eth.gas_limit = FIXTURE_GAS_LIMIT;
    parent
}

/// Pool admission of raw bytes (`eth_sendRawTransaction`, transaction gossip).
pub fn check_raw_transaction(byzantium: bool, raw: &[u8]) -> Outcome {
    let config = config(byzantium);
    let mut slice = raw;
    let decoded = TxEnvelope::decode_2718(&mut slice).ok();
    if let Some(tx) = &decoded {
        // Decode → encode → decode is the identity on the transaction.
        let again = tx.encoded_2718();
        match TxEnvelope::decode_2718(&mut again.as_slice()) {
            Ok(back) => assert_eq!(&back, tx, "a decoded transaction re-decodes differently"),
            Err(e) => panic!("a decoded transaction does not re-decode: {e}"),
        }
    }
    // Fund the sender so admission gets past the balance check.
    let sender = decoded.as_ref().and_then(|tx| tx.recover_signer().ok());
    let state = funded_state(sender);
    let mut pool = TxPool::new(PoolConfig {
        chain_id: config.chain_id(),
        spec: config.spec_at(1, 10),
        ..PoolConfig::default()
    });
    match pool.add_raw(raw, &state) {
        Ok(hash) => {
            assert!(pool.contains(&hash), "admitted but not pooled");
            assert_eq!(pool.len(), 1);
            assert!(
                decoded.as_ref().is_some_and(|tx| *tx.tx_hash() == hash),
                "admitted bytes that do not decode to the admitted hash"
            );
            assert!(
                pool.add_raw(raw, &state).is_err(),
                "the same transaction was admitted twice"
            );
            assert_eq!(pool.len(), 1, "a refused copy changed the pool");
            Outcome::Accepted
        }
        Err(_) => {
            assert!(pool.is_empty(), "a refused transaction changed the pool");
            if decoded.is_some() {
                Outcome::Refused
            } else {
                Outcome::Undecodable
            }
        }
    }
}

/// Decoding and validating a gossiped block.
pub fn check_block_bytes(byzantium: bool, bytes: &[u8]) -> Outcome {
    let Some(block) = decode_block(bytes) else {
        return Outcome::Undecodable;
    };
    let encoded = encode_block(&block);
    match decode_block(&encoded) {
        Some(back) => {
            assert_eq!(
                back.header, block.header,
                "header unstable under re-encoding"
            );
            assert_eq!(back.transactions, block.transactions, "body unstable");
        }
        None => panic!("a decoded block does not re-decode"),
    }
    let config = config(byzantium);
    let senders = block
        .transactions
        .iter()
        .take(MAX_FUNDED)
        .filter_map(|tx| tx.recover_signer().ok());
    let state = funded_state(senders);
    match validate_block(&config, &state, &fixture_parent(), &block) {
        Ok(executed) => {
            assert_eq!(
                executed.block.header, block.header,
                "a block validated with a header it does not re-execute to"
            );
            Outcome::Accepted
        }
        Err(_) => Outcome::Refused,
    }
}

/// One call to the miner contract, as the fuzzer chooses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerCall {
    /// Which of [`CALLERS`] sends it.
    pub caller: u8,
    /// Value sent with it (the contract refuses value).
    pub value: bool,
    /// Block height of the call.
    pub height: u16,
    /// Calldata.
    pub input: Vec<u8>,
}

impl MinerCall {
    /// Splits fuzzer bytes: caller, value flag, height (2 bytes), then calldata.
    pub fn from_bytes(data: &[u8]) -> Self {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        MinerCall {
            caller: byte(0),
            value: byte(1) & 1 == 1,
            height: u16::from_be_bytes([byte(2), byte(3)]),
            input: data.get(4..).unwrap_or_default().to_vec(),
        }
    }

    /// The inverse of [`MinerCall::from_bytes`] (for seeds).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.caller, u8::from(self.value)];
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.input);
        out
    }
}

/// Callers of the miner-contract fixture: `CALLERS[0]` is registered at genesis
/// (start 1, lifespan 100), the others are not.
pub const CALLERS: [Address; 3] = [
    Address::repeat_byte(0xa1),
    Address::repeat_byte(0xb2),
    Address::repeat_byte(0xc3),
];

/// The genesis registration of `CALLERS[0]`.
pub fn genesis_registration() -> Registration {
    Registration {
        start: 1,
        lifespan: 100,
        coinbase: CALLERS[0].0.0,
        vrf_pk: [0x11; 32],
        vote_pk: [0x22; 32],
    }
}

/// Runs one call to the miner contract and checks what it may and may not change.
pub fn check_miner_call(call: &MinerCall) -> Outcome {
    let config = config(false);
    let mut state = funded_state(CALLERS);
    let storage = genesis_storage(&[(CALLERS[0], genesis_registration())], INTERVAL);
    if let Err(e) = state.insert_account(
        MINER_CONTRACT,
        0,
        U256::ZERO,
        Bytes::from(MINER_CONTRACT_CODE.to_vec()),
        storage,
    ) {
        panic!("fixture: miner contract: {e}");
    }
    let height = u64::from(call.height);
    let spec = config.spec_at(height, 10);
    let mut ex = TxExecutor::new(
        StateOverlay::new(&state, spec),
        cfg_env(&config, spec),
        BlockEnv {
            number: U256::from(height),
            gas_limit: 30_000_000,
            basefee: 0,
            ..Default::default()
        },
        config.miner_contract(),
    );
    let caller = CALLERS[usize::from(call.caller) % CALLERS.len()];
    let tx = TxEnv::builder()
        .caller(caller)
        .kind(TxKind::Call(MINER_CONTRACT))
        .data(Bytes::from(call.input.clone()))
        .value(U256::from(u8::from(call.value)))
        .gas_limit(1_000_000)
        .gas_price(0)
        .chain_id(Some(CHAIN_ID))
        .build();
    let tx = match tx {
        Ok(tx) => tx,
        Err(e) => panic!("fixture: transaction: {e:?}"),
    };
    let result = match ex.execute(tx) {
        Ok(r) => r,
        Err(e) => panic!("a funded call to the miner contract was invalid: {e}"),
    };
    let wrote = ex
        .overlay()
        .changes()
        .accounts
        .get(&MINER_CONTRACT)
        .is_some_and(|c| !c.storage.is_empty());
    let miner_logs: Vec<_> = result
        .logs()
        .iter()
        .filter(|l| l.address == MINER_CONTRACT)
        .collect();
    let answered_true = matches!(&result, ExecutionResult::Success { .. })
        && result
            .output()
            .is_some_and(|o| bool::abi_decode(o).unwrap_or(false));
    let selector: Option<[u8; 4]> = call.input.get(..4).and_then(|s| s.try_into().ok());
    let is_write = matches!(
        selector,
        Some(IMiner::setCall::SELECTOR)
            | Some(IMiner::setCoinbaseCall::SELECTOR)
            | Some(IMiner::heartbeatCall::SELECTOR)
            | Some(IMiner::reportEquivocationCall::SELECTOR)
    );
    if !is_write || !answered_true {
        assert!(!wrote, "the miner contract wrote storage on {result:?}");
        assert!(
            miner_logs.is_empty(),
            "the miner contract logged on {result:?}"
        );
    }
    if selector == Some(IMiner::setCall::SELECTOR) && answered_true {
        assert!(wrote, "`set` answered true but wrote nothing");
        assert_eq!(miner_logs.len(), 1, "`set` must emit exactly one event");
        let topic = miner_logs[0].topics().first().copied();
        assert!(
            topic == Some(IMiner::Added::SIGNATURE_HASH)
                || topic == Some(IMiner::Updated::SIGNATURE_HASH),
            "`set` emitted an unknown event"
        );
    }
    if selector == Some(IMiner::heartbeatCall::SELECTOR) && answered_true {
        // Seen at height 0 is the empty record, so there nothing changes.
        assert!(
            wrote || height == 0,
            "`heartbeat` answered true but wrote nothing"
        );
        assert_eq!(
            miner_logs.len(),
            1,
            "`heartbeat` must emit exactly one event"
        );
        assert_eq!(
            miner_logs[0].topics().first().copied(),
            Some(IMiner::Heartbeat::SIGNATURE_HASH),
            "`heartbeat` emitted an unknown event"
        );
    }
    if call.value {
        assert!(
            !matches!(result, ExecutionResult::Success { .. }),
            "the miner contract accepted value"
        );
    }
    let returned_data = matches!(&result, ExecutionResult::Success { .. })
        && result.output().is_some_and(|o| !o.is_empty());
    if answered_true || (!is_write && returned_data) {
        Outcome::Accepted
    } else {
        Outcome::Refused
    }
}
