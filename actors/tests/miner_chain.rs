//! The miner contract on a chain (execution layer only, no network): genesis with
//! miner A; B registers with its `MinerKey` calldata; from B's start B's stake is in
//! the header's total and B's weight is non-zero; a bad `set` returns false and
//! writes nothing; an interval boundary without new registrations keeps the chain's
//! miner set (Kaleido B5).

use actors::execution::{
    block::{BlockAttributes, execute_block},
    chain_config::ChainConfig,
    executor::TxExecutor,
    header::KalgoHeader,
    memory_state::MemoryState,
    miner::{
        MINER_CONTRACT, MINER_CONTRACT_CODE,
        abi::{IMiner, miner_key_calldata},
        layout::{genesis_storage, miner_base_slot, registration_slots},
        snapshot::{miner_registry, registry_snapshot, total_stake_of_miners},
    },
    state::{StateOverlay, StateReader},
};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolEvent, SolValue};
use rand_core::SeedableRng;
use revm::context::{BlockEnv, TxEnv, result::ExecutionResult};
use spec::{
    auth::RealMinerKeys, crypto::VoteSigner, crypto::VrfProver, registration::Registration,
    sortition::weight, types::MinerId,
};

const INTERVAL: u64 = 200;
const COIN: u128 = 1_000_000_000_000_000_000;

fn key(n: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(n))
        .unwrap_or_else(|_| PrivateKeySigner::random())
}

fn config() -> ChainConfig {
    config_with_lookback(0)
}

/// A new chain's config with `lookback`, without the absentee rule: the
/// blocks of these tests are proposed by an address that is no miner, so
/// every miner would be marked absent (the rule has its own test,
/// [`an_absent_miner_is_marked_and_a_heartbeat_brings_it_back`]).
fn config_with_lookback(lookback: u64) -> ChainConfig {
    let mut c = ChainConfig::new_chain(1337);
    if let Some(a) = c.algorand.as_mut() {
        a.interval_size = INTERVAL;
        a.stake_lookback = lookback;
        a.absentee_rules_block = None;
    }
    c
}

fn registration(owner: Address, start: u64, lifespan: u32, seed: u8) -> Registration {
    let keys = keys(owner, start, seed);
    Registration {
        start,
        lifespan,
        coinbase: owner.0.0,
        vrf_pk: keys.vrf.vrf_public(),
        vote_pk: keys.votes.master_public(),
    }
}

fn keys(owner: Address, start: u64, seed: u8) -> RealMinerKeys {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
    RealMinerKeys::generate(&mut rng, MinerId(owner.0.0), 1337, start, 2 * INTERVAL, 100)
        .unwrap_or_else(|e| panic!("keygen: {e}"))
}

fn call(from: &PrivateKeySigner, nonce: u64, input: Bytes) -> TxEnvelope {
    let tx = TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 300_000,
        max_fee_per_gas: 3_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(MINER_CONTRACT),
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    };
    let sig = from
        .sign_hash_sync(&tx.signature_hash())
        .unwrap_or_else(|e| panic!("{e}"));
    tx.into_signed(sig).into()
}

fn attrs(n: u64) -> BlockAttributes {
    BlockAttributes {
        timestamp: 10 + n,
        coinbase: Address::repeat_byte(0xcb),
        gas_limit: 63_000_000,
        seed: B256::repeat_byte(5),
        proposer: Address::repeat_byte(0xcc),
        total_balance_of_miners: U256::ZERO,
        extra_data: Bytes::new(),
    }
}

/// Executes a call against `state` without committing (like `eth_call`).
fn eth_call(
    state: &MemoryState,
    from: Address,
    input: Bytes,
    number: u64,
) -> (ExecutionResult, bool) {
    eth_call_with(state, from, input, number, U256::ZERO, 300_000)
}

fn eth_call_with(
    state: &MemoryState,
    from: Address,
    input: Bytes,
    number: u64,
    value: U256,
    gas: u64,
) -> (ExecutionResult, bool) {
    call_to(state, MINER_CONTRACT, from, input, number, value, gas)
}

#[allow(clippy::too_many_arguments)]
fn call_to(
    state: &MemoryState,
    to: Address,
    from: Address,
    input: Bytes,
    number: u64,
    value: U256,
    gas: u64,
) -> (ExecutionResult, bool) {
    call_on(&config(), state, to, from, input, number, value, gas)
}

#[allow(clippy::too_many_arguments)]
fn call_on(
    cfg: &ChainConfig,
    state: &MemoryState,
    to: Address,
    from: Address,
    input: Bytes,
    number: u64,
    value: U256,
    gas: u64,
) -> (ExecutionResult, bool) {
    let spec = cfg.spec_at(number, 10);
    let mut ex = TxExecutor::new(
        StateOverlay::new(state, spec),
        actors::execution::block::cfg_env(cfg, spec),
        BlockEnv {
            number: U256::from(number),
            gas_limit: 63_000_000,
            basefee: 0,
            ..Default::default()
        },
        cfg.miner_contract(),
    );
    let tx = TxEnv::builder()
        .caller(from)
        .kind(TxKind::Call(to))
        .data(input)
        .value(value)
        .gas_limit(gas)
        .gas_price(0)
        .chain_id(Some(1337))
        .build()
        .unwrap_or_else(|e| panic!("{e:?}"));
    let r = ex.execute(tx).unwrap_or_else(|e| panic!("{e}"));
    let touched_storage = ex
        .overlay()
        .changes()
        .accounts
        .get(&MINER_CONTRACT)
        .is_some_and(|c| !c.storage.is_empty());
    (r, touched_storage)
}

fn output_bool(r: &ExecutionResult) -> bool {
    let out = r.output().cloned().unwrap_or_default();
    bool::abi_decode(&out).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn register_b_count_its_stake_and_survive_an_empty_interval_boundary() {
    let (a, b) = (key(1), key(2));
    let reg_a = registration(a.address(), 1, 100, 1);
    let mut state = MemoryState::default();
    state
        .insert_account(a.address(), 0, U256::from(300 * COIN), Bytes::new(), [])
        .expect("insert account");
    state
        .insert_account(b.address(), 0, U256::from(100 * COIN), Bytes::new(), [])
        .expect("insert account");
    state
        .insert_account(
            MINER_CONTRACT,
            0,
            U256::ZERO,
            Bytes::from(MINER_CONTRACT_CODE.to_vec()),
            genesis_storage(&[(a.address(), reg_a)], INTERVAL),
        )
        .expect("insert account");
    let cfg = config();
    let genesis_slots = registration_slots(a.address(), &reg_a, INTERVAL);
    assert_eq!(
        miner_registry(&state, 1, INTERVAL)
            .unwrap_or_default()
            .len(),
        1,
        "A is a miner from genesis"
    );

    // `set` with lifespan 0 (Kaleido B2) returns false and writes nothing.
    let reg_b = registration(b.address(), 150, 100, 2);
    let bad = miner_key_calldata(&Registration {
        lifespan: 0,
        ..reg_b
    });
    let (r, touched) = eth_call(&state, b.address(), bad.clone(), 1);
    assert!(r.is_success());
    assert!(!output_bool(&r));
    assert!(!touched, "a refused set writes no storage");
    // The same with a malformed vote key and a start outside the window.
    let bad_key = miner_key_calldata(&Registration {
        vote_pk: [0; 32],
        ..reg_b
    });
    assert!(!output_bool(&eth_call(&state, b.address(), bad_key, 1).0));
    let too_soon = miner_key_calldata(&Registration { start: 50, ..reg_b });
    assert!(!output_bool(&eth_call(&state, b.address(), too_soon, 1).0));
    let good = miner_key_calldata(&reg_b);
    assert!(output_bool(
        &eth_call(&state, b.address(), good.clone(), 1).0
    ));

    // Block 1: B's bad set (mined, no effect) and B's real registration.
    let mut parent = KalgoHeader::default();
    let block1 = execute_block(
        &cfg,
        &state,
        &parent,
        &attrs(1),
        vec![call(&b, 0, bad), call(&b, 1, good)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        block1
            .receipts
            .iter()
            .all(alloy_consensus::TxReceipt::status)
    );
    assert!(block1.receipts[0].logs().is_empty());
    let logs = block1.receipts[1].logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].address, MINER_CONTRACT);
    let added = IMiner::Added::decode_log_data(&logs[0].data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((added.start, added.miner), (U256::from(150), b.address()));
    state.apply(&block1.changes, &block1.state_root_output());
    let base = miner_base_slot(0, b.address());
    assert_ne!(
        state.storage(&MINER_CONTRACT, &base).unwrap_or_default(),
        U256::ZERO
    );
    // A second `set` would be an update; A's genesis entry is untouched.
    let slots = state.storage_slots(&MINER_CONTRACT).unwrap_or_default();
    for s in &genesis_slots {
        assert!(slots.contains(s));
    }
    // `get` returns what was registered.
    let get = IMiner::getCall {
        number: U256::from(150),
        miner: b.address(),
    }
    .abi_encode();
    let (r, _) = eth_call(&state, a.address(), get.into(), 2);
    let out = r.output().cloned().unwrap_or_default();
    let got = <(u64, u32, Address, B256, B256)>::abi_decode_params(&out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got,
        (
            150,
            100,
            b.address(),
            B256::from(reg_b.vrf_pk),
            B256::from(reg_b.vote_pk)
        )
    );
    parent = block1.block.header.clone();

    let stake_a = 300 * COIN;
    let mut headers = vec![KalgoHeader::default(), parent.clone()];
    // Empty blocks up to past the interval boundary at 200 (nobody registered for interval 1).
    for n in 2..=INTERVAL + 5 {
        let ex = execute_block(&cfg, &state, &parent, &attrs(n), vec![])
            .unwrap_or_else(|e| panic!("{e}"));
        state.apply(&ex.changes, &ex.state_root_output());
        parent = ex.block.header.clone();
        headers.push(parent.clone());
    }
    let stake_b = u128::try_from(
        state
            .account(&b.address())
            .ok()
            .flatten()
            .map(|a| a.balance)
            .unwrap_or_default(),
    )
    .unwrap_or(0);
    // TBM(H) is the stake eligible at H+1 (lookback 0): B counts from its start, 150.
    assert_eq!(headers[148].total_balance_of_miners, U256::from(stake_a));
    assert_eq!(
        headers[149].total_balance_of_miners,
        U256::from(stake_a + stake_b)
    );
    // Across the boundary (height 200, interval 1, no new registration): both carried over.
    assert_eq!(
        headers[199].total_balance_of_miners,
        U256::from(stake_a + stake_b)
    );
    assert_eq!(
        headers[204].total_balance_of_miners,
        U256::from(stake_a + stake_b)
    );
    let miners = miner_registry(&state, 205, INTERVAL).unwrap_or_default();
    assert_eq!(miners.len(), 2);
    let total = total_stake_of_miners(&state, 205, INTERVAL).unwrap_or_default();
    assert_eq!(total, stake_a + stake_b);
    let mb = miners
        .iter()
        .find(|m| m.id == MinerId(b.address().0.0))
        .map(|m| m.record);
    let mb = mb.unwrap_or_else(|| panic!("B is registered"));
    assert_eq!(mb.vote_master_pk, reg_b.vote_pk);
    let snap = registry_snapshot(&state, 205, INTERVAL).unwrap_or_default();
    assert_eq!(snap.total_stake, total);
    assert_eq!(snap.record(&MinerId(b.address().0.0)), Some(mb));
    assert_eq!(snap.record(&MinerId([9; 20])), None);
    let w = weight(10_000_000_000, mb.stake, total, &[0x11; 32]).unwrap_or(0);
    assert!(w > 0, "B's weight is non-zero");
    // B's keys vote at 205 and the vote authenticates against the registry record.
    let p = spec::params::Params::new_chain(1337);
    let hrs = spec::types::Hrs::new(205, 1, spec::types::Step(2));
    let seed = [5u8; 32];
    let vote = keys(b.address(), 150, 2)
        .cast_vote(&p, hrs, spec::types::Value([1; 32]), &seed, mb.stake, total)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("a quarter of the stake is selected"));
    let j = spec::auth::authenticate_vote(&spec::auth::REAL, &p, &vote, &mb, total, &seed);
    assert!(j.as_ref().is_ok_and(|j| *j > 0), "{j:?}");
    assert!(
        (2_499_000_000..=2_500_000_000).contains(&w),
        "w = {w}: B holds ~1/4 of the stake"
    );
    // Before its start B is not a miner.
    assert_eq!(
        miner_registry(&state, 149, INTERVAL)
            .unwrap_or_default()
            .len(),
        1
    );
    let is_miner = |h: u64| {
        let c = IMiner::isMinerOfHeightCall {
            number: U256::from(h),
            miner: b.address(),
        }
        .abi_encode();
        output_bool(&eth_call(&state, a.address(), c.into(), 206).0)
    };
    assert!(!is_miner(149));
    assert!(is_miner(150));
    assert!(is_miner(250));
}

fn genesis_with_a() -> (MemoryState, PrivateKeySigner, PrivateKeySigner) {
    let (a, b) = (key(1), key(2));
    let reg_a = registration(a.address(), 1, 100, 1);
    let mut state = MemoryState::default();
    state
        .insert_account(a.address(), 0, U256::from(300 * COIN), Bytes::new(), [])
        .expect("insert account");
    state
        .insert_account(b.address(), 0, U256::from(100 * COIN), Bytes::new(), [])
        .expect("insert account");
    state
        .insert_account(
            MINER_CONTRACT,
            0,
            U256::ZERO,
            Bytes::from(MINER_CONTRACT_CODE.to_vec()),
            genesis_storage(&[(a.address(), reg_a)], INTERVAL),
        )
        .expect("insert account");
    (state, a, b)
}

#[test]
fn updates_set_coinbase_views_and_refusals() {
    let (mut state, a, b) = genesis_with_a();
    let cfg = config();
    let reg1 = registration(b.address(), 150, 100, 2);
    let reg2 = registration(b.address(), 150, 50, 3);
    let moved = Registration { start: 160, ..reg2 };
    let carol = Address::repeat_byte(0xc0);
    let set_cb = IMiner::setCoinbaseCall {
        number: U256::from(150),
        coinbase: carol,
    }
    .abi_encode();
    // Not enough gas for `set`: the call halts and writes nothing.
    let (r, touched) = eth_call_with(
        &state,
        b.address(),
        miner_key_calldata(&reg1),
        1,
        U256::ZERO,
        60_000,
    );
    assert!(!r.is_success());
    assert!(!touched);
    // Value sent to the contract: reverted.
    let (r, touched) = eth_call_with(
        &state,
        b.address(),
        miner_key_calldata(&reg1),
        1,
        U256::from(1),
        300_000,
    );
    assert!(!r.is_success());
    assert!(!touched);
    // Garbage calldata: reverted.
    assert!(
        !eth_call(&state, b.address(), Bytes::from_static(&[1, 2, 3]), 1)
            .0
            .is_success()
    );

    let txs = vec![
        call(&b, 0, miner_key_calldata(&reg1)),
        call(&b, 1, miner_key_calldata(&reg2)),
        call(&b, 2, miner_key_calldata(&moved)),
        call(&b, 3, set_cb.into()),
    ];
    let block = execute_block(&cfg, &state, &KalgoHeader::default(), &attrs(1), txs)
        .unwrap_or_else(|e| panic!("{e}"));
    let topics: Vec<Vec<B256>> = block
        .receipts
        .iter()
        .map(|r| r.logs().iter().map(|l| l.topics()[0]).collect())
        .collect();
    assert_eq!(
        topics,
        vec![
            vec![IMiner::Added::SIGNATURE_HASH],
            vec![IMiner::Updated::SIGNATURE_HASH],
            vec![],
            vec![IMiner::Updated::SIGNATURE_HASH],
        ],
        "add, update keys, refused start change, coinbase update"
    );
    state.apply(&block.changes, &block.state_root_output());
    let get = IMiner::getCall {
        number: U256::from(150),
        miner: b.address(),
    }
    .abi_encode();
    let out = eth_call(&state, a.address(), get.into(), 2)
        .0
        .output()
        .cloned()
        .unwrap_or_default();
    let got = <(u64, u32, Address, B256, B256)>::abi_decode_params(&out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got,
        (
            150,
            50,
            carol,
            B256::from(reg2.vrf_pk),
            B256::from(reg2.vote_pk)
        )
    );
    let count = IMiner::getNewAddedMinersCountCall {
        number: U256::from(150),
    }
    .abi_encode();
    let out = eth_call(&state, a.address(), count.into(), 2)
        .0
        .output()
        .cloned()
        .unwrap_or_default();
    assert_eq!(U256::abi_decode(&out).ok(), Some(U256::from(1)));
    let first = IMiner::getNewAddedMinerCall {
        number: U256::from(150),
        index: 0,
    }
    .abi_encode();
    let out = eth_call(&state, a.address(), first.into(), 2)
        .0
        .output()
        .cloned()
        .unwrap_or_default();
    assert_eq!(Address::abi_decode(&out).ok(), Some(b.address()));
    let past = IMiner::getNewAddedMinerCall {
        number: U256::from(150),
        index: 1,
    }
    .abi_encode();
    assert!(!eth_call(&state, a.address(), past.into(), 2).0.is_success());
    // A registry read at 150 sees the updated keys and coinbase.
    let miners = miner_registry(&state, 150, INTERVAL).unwrap_or_default();
    let mb = miners
        .iter()
        .find(|m| m.id == MinerId(b.address().0.0))
        .copied();
    assert_eq!(
        mb.map(|m| (m.coinbase, m.record.vote_master_pk, m.registration.lifespan)),
        Some((carol, reg2.vote_pk, 50))
    );
}

#[test]
fn lookback_moves_the_sample_back_and_the_header_total_forward() {
    let (mut state, _a, b) = genesis_with_a();
    let cfg = config_with_lookback(10);
    let reg_b = registration(b.address(), 150, 100, 2);
    let mut parent = KalgoHeader::default();
    let mut headers = vec![parent.clone()];
    let mut states = vec![state.clone()];
    for n in 1..=150 {
        let txs = if n == 1 {
            vec![call(&b, 0, miner_key_calldata(&reg_b))]
        } else {
            vec![]
        };
        let ex =
            execute_block(&cfg, &state, &parent, &attrs(n), txs).unwrap_or_else(|e| panic!("{e}"));
        state.apply(&ex.changes, &ex.state_root_output());
        parent = ex.block.header.clone();
        headers.push(parent.clone());
        states.push(state.clone());
    }
    // Height 150 samples block 150 − 1 − 10 = 139: its header's total already
    // includes B (eligible at 139 + 1 + 10 = 150), and equals the registry read there.
    let sample = spec::registration::stake_sample_block(150, 10) as usize;
    assert_eq!(sample, 139);
    let total = total_stake_of_miners(&states[sample], 150, INTERVAL).unwrap_or_default();
    assert_eq!(headers[sample].total_balance_of_miners, U256::from(total));
    let stake_a = 300 * COIN;
    assert!(total > stake_a);
    assert_eq!(
        headers[sample - 1].total_balance_of_miners,
        U256::from(stake_a)
    );
    // Stake moved in after the sample does not count at 150.
    let late = total_stake_of_miners(&states[149], 150, INTERVAL).unwrap_or_default();
    assert_eq!(late, total, "no balance change here, same value");
    assert_eq!(
        miner_registry(&states[sample], 150, INTERVAL)
            .unwrap_or_default()
            .len(),
        2
    );
}

/// A contract that forwards its calldata to the miner contract with `opcode`
/// (STATICCALL `0xfa` or DELEGATECALL `0xf4`) and returns the success flag.
fn forwarder(opcode: u8) -> Bytes {
    let mut code = vec![0x36, 0x60, 0x00, 0x60, 0x00, 0x37]; // calldatacopy(0, 0, size)
    code.extend_from_slice(&[0x60, 0x00, 0x60, 0x00, 0x36, 0x60, 0x00, 0x73]);
    code.extend_from_slice(MINER_CONTRACT.as_slice());
    code.extend_from_slice(&[0x5a, opcode, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    code.into()
}

#[test]
fn static_and_delegate_calls_cannot_register() {
    let (mut state, _a, b) = genesis_with_a();
    let data = miner_key_calldata(&registration(b.address(), 150, 100, 2));
    for (i, opcode) in [0xfa_u8, 0xf4].into_iter().enumerate() {
        let fwd = Address::repeat_byte(0xd0 + i as u8);
        state
            .insert_account(fwd, 1, U256::ZERO, forwarder(opcode), [])
            .expect("insert account");
        let (r, touched) = call_to(
            &state,
            fwd,
            b.address(),
            data.clone(),
            1,
            U256::ZERO,
            500_000,
        );
        assert!(r.is_success(), "{r:?}");
        let out = r.output().cloned().unwrap_or_default();
        assert_eq!(
            U256::abi_decode(&out).ok(),
            Some(U256::ZERO),
            "inner call failed"
        );
        assert!(!touched, "no registration written");
    }
    // A view through STATICCALL succeeds (the forwarder returns the success flag).
    let fwd = Address::repeat_byte(0xd0);
    let view = IMiner::getNewAddedMinersCountCall {
        number: U256::from(1),
    }
    .abi_encode();
    let (r, _) = call_to(
        &state,
        fwd,
        b.address(),
        view.into(),
        1,
        U256::ZERO,
        500_000,
    );
    let out = r.output().cloned().unwrap_or_default();
    assert_eq!(U256::abi_decode(&out).ok(), Some(U256::from(1)));
}

/// A contract that forwards its calldata to the miner contract and returns its
/// 32-byte answer (a "factory" registering on its own behalf).
fn forwarder_code() -> Bytes {
    let mut code = vec![0x36, 0x60, 0x00, 0x60, 0x00, 0x37]; // CALLDATACOPY(0, 0, size)
    code.extend([0x60, 0x20, 0x60, 0x00, 0x36, 0x60, 0x00, 0x60, 0x00, 0x73]);
    code.extend_from_slice(MINER_CONTRACT.as_slice()); // CALL(gas, miner, 0, 0, size, 0, 32)
    code.extend([0x5a, 0xf1, 0x50, 0x60, 0x20, 0x60, 0x00, 0xf3]); // POP; RETURN(0, 32)
    Bytes::from(code)
}

#[test]
fn registration_limits_refuse_contracts_thin_stake_and_a_full_block() {
    let a = key(1);
    let reg_a = registration(a.address(), 1, 100, 1);
    let rich = key(3);
    let poor = key(4);
    let forwarder = Address::repeat_byte(0xfa);
    let mut state = MemoryState::default();
    for (who, coins) in [(a.address(), 300), (rich.address(), 10), (forwarder, 10)] {
        let code = if who == forwarder {
            forwarder_code()
        } else {
            Bytes::new()
        };
        state
            .insert_account(who, 0, U256::from(coins * COIN), code, [])
            .expect("insert account");
    }
    state
        .insert_account(poor.address(), 0, U256::from(COIN / 2), Bytes::new(), [])
        .expect("insert account");
    state
        .insert_account(
            MINER_CONTRACT,
            0,
            U256::ZERO,
            Bytes::from(MINER_CONTRACT_CODE.to_vec()),
            genesis_storage(&[(a.address(), reg_a)], INTERVAL),
        )
        .expect("insert account");

    // New chains have the limits from genesis: at least 1 KAL of stake.
    let reg =
        |k: &PrivateKeySigner, seed| miner_key_calldata(&registration(k.address(), 150, 100, seed));
    let (r, touched) = eth_call(&state, poor.address(), reg(&poor, 4), 1);
    assert!(
        r.is_success() && !output_bool(&r) && !touched,
        "thin stake refused"
    );
    let (r, _) = eth_call(&state, rich.address(), reg(&rich, 3), 1);
    assert!(output_bool(&r), "enough stake: registered");
    // A contract registering itself (the caller is not the transaction's
    // signer) is refused, although it holds the stake.
    let own = miner_key_calldata(&registration(forwarder, 150, 100, 5));
    let (r, touched) = call_to(
        &state,
        forwarder,
        rich.address(),
        own.clone(),
        1,
        U256::ZERO,
        300_000,
    );
    assert!(r.is_success(), "{r:?}");
    assert!(!output_bool(&r) && !touched, "a contract cannot register");
    // ... which it could before the limits (so the refusal above is theirs).
    let mut before = config();
    if let Some(al) = before.algorand.as_mut() {
        al.registration_rules_block = Some(2);
    }
    let (r, touched) = call_on(
        &before,
        &state,
        forwarder,
        rich.address(),
        own,
        1,
        U256::ZERO,
        300_000,
    );
    assert!(
        output_bool(&r) && touched,
        "the forwarder registers before block 2"
    );

    // A block holds at most `maxRegistrationsPerBlock` new registrations.
    let mut cfg = config();
    let mut signers = Vec::new();
    for n in 0..3u8 {
        let k = key(20 + n);
        state
            .insert_account(k.address(), 0, U256::from(2 * COIN), Bytes::new(), [])
            .expect("insert account");
        signers.push(k);
    }
    if let Some(al) = cfg.algorand.as_mut() {
        al.max_registrations_per_block = 2;
    }
    let txs = signers
        .iter()
        .enumerate()
        .map(|(i, k)| call(k, 0, reg(k, 20 + i as u8)))
        .collect();
    let block1 = execute_block(&cfg, &state, &KalgoHeader::default(), &attrs(1), txs)
        .unwrap_or_else(|e| panic!("{e}"));
    let added: Vec<usize> = block1.receipts.iter().map(|r| r.logs().len()).collect();
    assert_eq!(
        added,
        vec![1, 1, 0],
        "the third registration of the block is refused"
    );

    // Without `registrationRulesBlock` (a chain from before the limits) they do
    // not apply: the thin stake registers.
    let mut old = config();
    if let Some(al) = old.algorand.as_mut() {
        al.registration_rules_block = None;
    }
    let block = execute_block(
        &old,
        &state,
        &KalgoHeader::default(),
        &attrs(1),
        vec![call(&poor, 0, reg(&poor, 4))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        block.receipts[0].logs().len(),
        1,
        "no limits before the rules block"
    );
}

/// Two votes A signed for different values at one (height, round, step), as
/// `reportEquivocation` takes them.
fn equivocation(keys: &RealMinerKeys, height: u64, step: u32) -> (Bytes, Bytes) {
    let mut p = spec::params::Params::new_chain(1337);
    p.lifespan = 100;
    let vote = |value: u8| {
        let v = keys
            .cast_vote(
                &p,
                spec::types::Hrs::new(height, 1, spec::types::Step(step)),
                spec::types::Value([value; 32]),
                &[7; 32],
                1,
                1,
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("all the stake has a seat"));
        Bytes::from(spec::codec::WireMessage::Vote(v).encode())
    };
    (vote(1), vote(2))
}

fn report(first: &Bytes, second: &Bytes) -> Bytes {
    IMiner::reportEquivocationCall {
        first: first.clone(),
        second: second.clone(),
    }
    .abi_encode()
    .into()
}

fn revert_reason(r: &ExecutionResult) -> String {
    match r {
        ExecutionResult::Revert { output, .. } => {
            <alloy_sol_types::Revert as alloy_sol_types::SolError>::abi_decode(output)
                .map_or_else(|e| e.to_string(), |r| r.reason)
        }
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// #19 part 2: B reports A's two votes at height 5 in block 6. A is suspended
/// for heights 7 to 6 + `equivocationSuspension`: it leaves the registry and
/// the header's total from height 7 (lookback 0), `isMinerOfHeight` says no
/// there and yes before and after, and a block A proposes pays no reward.
/// Evidence the suspension already covers, from the future, too old,
/// non-conflicting or forged is refused with a reason and changes nothing; on a
/// chain without `equivocationRulesBlock`, or before it, both new functions
/// revert as an unknown selector does. A later offence extends the suspension.
#[test]
fn equivocation_evidence_suspends_the_miner_once() {
    let (a, b, c) = (key(1), key(2), key(3));
    let reg_a = registration(a.address(), 1, 100, 1);
    let reg_c = registration(c.address(), 1, 100, 3);
    let keys_a = keys(a.address(), 1, 1);
    let mut state = MemoryState::default();
    for (who, coins) in [(&a, 300), (&b, 100), (&c, 200)] {
        state
            .insert_account(who.address(), 0, U256::from(coins * COIN), Bytes::new(), [])
            .expect("insert account");
    }
    state
        .insert_account(
            MINER_CONTRACT,
            0,
            U256::ZERO,
            Bytes::from(MINER_CONTRACT_CODE.to_vec()),
            genesis_storage(&[(a.address(), reg_a), (c.address(), reg_c)], INTERVAL),
        )
        .expect("insert account");
    assert!(
        config()
            .algorand
            .is_some_and(|al| al.equivocation_rules_block == Some(0)),
        "new chains take equivocation reports from genesis"
    );
    let period = 50;
    let mut cfg = config();
    if let Some(al) = cfg.algorand.as_mut() {
        al.equivocation_suspension = period;
    }
    let (first, second) = equivocation(&keys_a, 5, 3);
    let is_miner = |state: &MemoryState, h: u64| {
        let input = IMiner::isMinerOfHeightCall {
            number: U256::from(h),
            miner: a.address(),
        }
        .abi_encode();
        output_bool(&eth_call(state, c.address(), input.into(), h).0)
    };
    let suspended_until = |state: &MemoryState| {
        let input = IMiner::suspendedUntilCall { miner: a.address() }.abi_encode();
        let out = eth_call(state, c.address(), input.into(), 6).0;
        u64::abi_decode(&out.output().cloned().unwrap_or_default()).unwrap_or(u64::MAX)
    };

    // Refusals before any block: each reverts with its reason and writes nothing.
    let (f2, _) = equivocation(&keys(c.address(), 1, 3), 5, 3);
    let cases: [(Bytes, &str); 5] = [
        (report(&first, &first), "same value"),
        (report(&first, &f2), "different miners"),
        (
            report(&first, &equivocation(&keys_a, 5, 2).1),
            "different (height",
        ),
        (
            report(&first, &Bytes::from(vec![0xff; 2000])),
            "longer than",
        ),
        (
            report(&first, &{
                let mut x = second.to_vec();
                let n = x.len() - 1;
                x[n] ^= 1;
                Bytes::from(x)
            }),
            "not equivocation evidence",
        ),
    ];
    for (input, reason) in cases {
        let (r, touched) = eth_call(&state, c.address(), input, 6);
        assert!(!touched);
        let got = revert_reason(&r);
        assert!(got.contains(reason), "{got:?} does not say {reason:?}");
    }
    // Height 5 is the next block's at block 4 (the height in agreement): taken.
    let (r, _) = eth_call(&state, c.address(), report(&first, &second), 4);
    assert!(r.is_success(), "{r:?}");
    let (r, touched) = eth_call(&state, c.address(), report(&first, &second), 3);
    assert!(!touched);
    assert!(revert_reason(&r).contains("after the next block"));
    // Without the rules block, or before it: the unknown-selector revert.
    for rules in [None, Some(7)] {
        let mut off = config();
        if let Some(al) = off.algorand.as_mut() {
            al.equivocation_rules_block = rules;
        }
        let view = IMiner::suspendedUntilCall { miner: a.address() }
            .abi_encode()
            .into();
        for input in [report(&first, &second), view] {
            // The same calldata under a selector nobody has (same length and
            // intrinsic gas).
            let mut other = input.to_vec();
            other[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
            let unknown = call_on(
                &off,
                &state,
                MINER_CONTRACT,
                b.address(),
                other.into(),
                6,
                U256::ZERO,
                300_000,
            )
            .0;
            assert!(
                matches!(&unknown, ExecutionResult::Revert { output, .. } if output.is_empty())
            );
            let (r, touched) = call_on(
                &off,
                &state,
                MINER_CONTRACT,
                b.address(),
                input,
                6,
                U256::ZERO,
                300_000,
            );
            assert!(!touched);
            assert_eq!(r, unknown, "rules block {rules:?}");
        }
    }

    // Blocks 1..=6; block 6 carries B's report.
    let mut parent = KalgoHeader::default();
    for n in 1..=6 {
        let txs = match n {
            6 => vec![call(&b, 0, report(&first, &second))],
            _ => vec![],
        };
        let ex =
            execute_block(&cfg, &state, &parent, &attrs(n), txs).unwrap_or_else(|e| panic!("{e}"));
        if n == 6 {
            let receipt = &ex.receipts[0];
            assert!(receipt.status(), "the report was refused");
            let logs: Vec<_> = receipt
                .logs()
                .iter()
                .filter_map(|l| IMiner::Equivocated::decode_log(l).ok())
                .collect();
            assert_eq!(logs.len(), 1);
            assert_eq!(logs[0].miner, a.address());
            assert_eq!((logs[0].height, logs[0].round, logs[0].step), (5, 1, 3));
            assert_eq!(logs[0].suspendedUntil, 6 + period);
        }
        state.apply(&ex.changes, &ex.state_root_output());
        parent = ex.block.header.clone();
    }
    assert_eq!(suspended_until(&state), 6 + period);
    // From height 7 (sampled after block 6) A is out; C alone is the committee.
    let registry = miner_registry(&state, 7, INTERVAL).unwrap_or_default();
    assert_eq!(
        registry
            .iter()
            .map(|m| Address::from(m.id.0))
            .collect::<Vec<_>>(),
        vec![c.address()]
    );
    assert_eq!(
        parent.total_balance_of_miners,
        U256::from(200 * COIN),
        "block 6's header total leaves A out"
    );
    assert!(is_miner(&state, 6), "before the suspension");
    assert!(!is_miner(&state, 7));
    assert!(!is_miner(&state, 6 + period));
    assert!(is_miner(&state, 7 + period), "back after the suspension");

    // The same offence again, or another at a height the report covers (up
    // to its block + 1).
    for (x, y) in [
        (first.clone(), second.clone()),
        equivocation(&keys_a, 6, 4),
        equivocation(&keys_a, 7, 2),
    ] {
        let (r, touched) = eth_call(&state, c.address(), report(&x, &y), 7);
        assert!(!touched);
        assert!(revert_reason(&r).contains("already punished"));
    }
    // A block A proposes (its registered coinbase is A) pays no reward; C's does.
    let before_a = state
        .account(&a.address())
        .ok()
        .flatten()
        .map(|x| x.balance);
    // The proposer's balance after block 7 when `who` proposes it.
    let balance_after_proposing = |who: Address| {
        let attrs = BlockAttributes {
            coinbase: who,
            proposer: who,
            ..attrs(7)
        };
        let ex =
            execute_block(&cfg, &state, &parent, &attrs, vec![]).unwrap_or_else(|e| panic!("{e}"));
        let mut after = state.clone();
        after.apply(&ex.changes, &ex.state_root_output());
        after.account(&who).ok().flatten().map(|x| x.balance)
    };
    assert_eq!(
        balance_after_proposing(a.address()),
        before_a,
        "a suspended proposer forfeits its reward"
    );
    assert_eq!(
        balance_after_proposing(c.address()),
        Some(U256::from(200 * COIN) + cfg.block_reward(7)),
    );
    // Evidence as old as the suspension period is taken; older is stale.
    let (x, y) = equivocation(&keys_a, 8, 2);
    let at = |n: u64| {
        call_on(
            &cfg,
            &state,
            MINER_CONTRACT,
            c.address(),
            report(&x, &y),
            n,
            U256::ZERO,
            300_000,
        )
    };
    assert!(at(8 + period).0.is_success());
    let (r, touched) = at(8 + period + 1);
    assert!(!touched);
    assert!(
        revert_reason(&r).contains("older than"),
        "{}",
        revert_reason(&r)
    );
    // A new offence (height 8, after the covered 7) reported in block 8
    // extends the suspension to 8 + period, from the same first height.
    let block7 =
        execute_block(&cfg, &state, &parent, &attrs(7), vec![]).unwrap_or_else(|e| panic!("{e}"));
    state.apply(&block7.changes, &block7.state_root_output());
    let block8 = execute_block(
        &cfg,
        &state,
        &block7.block.header,
        &attrs(8),
        vec![call(&b, 1, report(&x, &y))],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(block8.receipts[0].status(), "the second report was refused");
    state.apply(&block8.changes, &block8.state_root_output());
    assert_eq!(suspended_until(&state), 8 + period);
    assert!(is_miner(&state, 6), "the suspension still starts at 7");
    assert!(!is_miner(&state, 7));
}

/// #19 part 1 (`spec::absence`), lookback 2 and factor 2: A (300 coins)
/// proposes every block, C (100 coins) never does. C's bound is
/// 2 + 2 × ⌈400 / 100⌉ = 10 blocks from its start (1), so block 12 marks it
/// absent: it leaves the registry and the header total from there, and
/// `isMinerOfHeight` says no from height 12 + 1 + 2. A heartbeat from someone
/// who is no miner is refused; C's heartbeat in block 13 clears the mark
/// (event `Heartbeat`) and C is back in the registry read after it. On a chain
/// without `absenteeRulesBlock`, or before it, both new functions revert as
/// an unknown selector does, and nobody is marked.
#[test]
fn an_absent_miner_is_marked_and_a_heartbeat_brings_it_back() {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut state = MemoryState::default();
    for (who, coins) in [(&a, 300), (&b, 100), (&c, 100)] {
        state
            .insert_account(who.address(), 0, U256::from(coins * COIN), Bytes::new(), [])
            .expect("insert account");
    }
    let regs = [
        (a.address(), registration(a.address(), 1, 100, 1)),
        (c.address(), registration(c.address(), 1, 100, 3)),
    ];
    state
        .insert_account(
            MINER_CONTRACT,
            0,
            U256::ZERO,
            Bytes::from(MINER_CONTRACT_CODE.to_vec()),
            genesis_storage(&regs, INTERVAL),
        )
        .expect("insert account");
    let mut cfg = ChainConfig::new_chain(1337);
    let Some(al) = cfg.algorand.as_mut() else {
        panic!("a new chain has config.algorand");
    };
    assert_eq!(
        al.absentee_rules_block,
        Some(0),
        "new chains mark absentees from genesis"
    );
    al.interval_size = INTERVAL;
    al.stake_lookback = 2;
    al.absentee_factor = 2;
    let view = |state: &MemoryState, input: Vec<u8>, number: u64| {
        let (r, touched) = call_on(
            &cfg,
            state,
            MINER_CONTRACT,
            b.address(),
            input.into(),
            number,
            U256::ZERO,
            300_000,
        );
        assert!(!touched, "a view wrote");
        r.output().cloned().unwrap_or_default()
    };
    let liveness = |state: &MemoryState, who: Address| {
        let out = view(state, IMiner::livenessCall { miner: who }.abi_encode(), 20);
        <(u64, u64, u64)>::abi_decode_params(&out).unwrap_or_else(|e| panic!("{e}"))
    };
    let is_miner = |state: &MemoryState, h: u64| {
        let input = IMiner::isMinerOfHeightCall {
            number: U256::from(h),
            miner: c.address(),
        };
        bool::abi_decode(&view(state, input.abi_encode(), h)).unwrap_or_else(|e| panic!("{e}"))
    };
    let members = |state: &MemoryState, h: u64| {
        miner_registry(state, h, INTERVAL)
            .unwrap_or_else(|e| panic!("{e}"))
            .iter()
            .map(|m| Address::from(m.id.0))
            .collect::<Vec<_>>()
    };
    let heartbeat: Bytes = IMiner::heartbeatCall {}.abi_encode().into();

    // Without the rule, or before its first block: the unknown-selector path.
    for rules in [None, Some(7)] {
        let mut off = cfg.clone();
        if let Some(al) = off.algorand.as_mut() {
            al.absentee_rules_block = rules;
        }
        let read = IMiner::livenessCall { miner: c.address() }.abi_encode();
        for input in [heartbeat.to_vec(), read] {
            let mut other = input.clone();
            other[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
            let run = |data: Vec<u8>| {
                call_on(
                    &off,
                    &state,
                    MINER_CONTRACT,
                    c.address(),
                    data.into(),
                    6,
                    U256::ZERO,
                    300_000,
                )
            };
            let unknown = run(other).0;
            assert!(
                matches!(&unknown, ExecutionResult::Revert { output, .. } if output.is_empty())
            );
            let (r, touched) = run(input);
            assert!(!touched);
            assert_eq!(r, unknown, "rules block {rules:?}");
        }
    }
    // Someone who is no miner cannot send a heartbeat.
    let (r, touched) = call_on(
        &cfg,
        &state,
        MINER_CONTRACT,
        b.address(),
        heartbeat.clone(),
        3,
        U256::ZERO,
        300_000,
    );
    assert!(!touched);
    assert!(
        revert_reason(&r).contains("not a registered miner"),
        "{}",
        revert_reason(&r)
    );

    // Blocks 1..=12, all proposed by A (rewards to a third address, so the
    // stakes stay put).
    let by_a = |n: u64| BlockAttributes {
        proposer: a.address(),
        ..attrs(n)
    };
    let mut parent = KalgoHeader::default();
    let mut totals = Vec::new();
    for n in 1..=12 {
        let ex = execute_block(&cfg, &state, &parent, &by_a(n), vec![])
            .unwrap_or_else(|e| panic!("{e}"));
        if n == 12 {
            // Another node validating block 12 (the one that marks C)
            // reaches the same header, state root included.
            let block = ex.block.clone();
            let again = actors::execution::block::validate_block(&cfg, &state, &parent, &block)
                .unwrap_or_else(|e| panic!("block 12 does not validate: {e}"));
            assert_eq!(again.hash(), ex.hash());
        }
        state.apply(&ex.changes, &ex.state_root_output());
        parent = ex.block.header.clone();
        totals.push(parent.total_balance_of_miners);
        if n == 11 {
            assert_eq!(
                liveness(&state, c.address()),
                (0, 0, 0),
                "C is within its bound"
            );
        }
    }
    assert_eq!(totals[10], U256::from(400 * COIN), "block 11 counts C");
    assert_eq!(totals[11], U256::from(300 * COIN), "block 12 leaves C out");
    assert_eq!(liveness(&state, c.address()), (0, 12, 0));
    // A is seen at every block, with the deadline of its bound then:
    // 2 + 2 × ⌈400 / 300⌉ = 6 blocks (C still counted when it was set).
    assert_eq!(liveness(&state, a.address()), (12, 0, 18));
    assert_eq!(members(&state, 15), vec![a.address()]);
    assert!(
        is_miner(&state, 14),
        "the mark counts from 12 + 1 + lookback"
    );
    assert!(!is_miner(&state, 15));

    // Block 13 carries C's heartbeat.
    let ex = execute_block(
        &cfg,
        &state,
        &parent,
        &by_a(13),
        vec![call(&c, 0, heartbeat)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let receipt = &ex.receipts[0];
    assert!(receipt.status(), "the heartbeat was refused");
    let logs: Vec<_> = receipt
        .logs()
        .iter()
        .filter_map(|l| IMiner::Heartbeat::decode_log(l).ok())
        .collect();
    assert_eq!(logs.len(), 1);
    assert_eq!((logs[0].miner, logs[0].block), (c.address(), 13));
    state.apply(&ex.changes, &ex.state_root_output());
    assert_eq!(members(&state, 16), vec![a.address(), c.address()]);
    assert!(is_miner(&state, 16));
    let balance = |w: Address| {
        state
            .account(&w)
            .ok()
            .flatten()
            .map_or(U256::ZERO, |x| x.balance)
    };
    let (stake_a, stake_c) = (balance(a.address()), balance(c.address()));
    assert_eq!(ex.block.header.total_balance_of_miners, stake_a + stake_c);
    // C's deadline: 13 + 2 + 2 × ⌈total / stake⌉ with the stakes of block 13
    // (C paid the heartbeat's gas, so the quotient is a little over 4).
    let quotient = (stake_a + stake_c).div_ceil(stake_c);
    assert_eq!(quotient, U256::from(5));
    assert_eq!(liveness(&state, c.address()), (13, 0, 13 + 2 + 2 * 5));
}
