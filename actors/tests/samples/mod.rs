//! Real encodings for the execution-layer fuzz checks ([`actors::fuzz_checks`]): the
//! proptest twins mutate them, and `examples/fuzz_seeds.rs` writes them as the
//! cargo-fuzz seed corpus.

use actors::consensus::host::encode_block;
use actors::execution::block::{BlockAttributes, execute_block};
use actors::execution::miner::abi::{IMiner, miner_key_calldata};
use actors::fuzz_checks::{
    CALLERS, CHAIN_ID, FIXTURE_GAS_LIMIT, MinerCall, config, fixture_parent, funded_state,
    genesis_registration,
};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::SolCall;
use rand_core::SeedableRng;
use spec::types::MinerId;
use spec::{
    auth::RealMinerKeys, crypto::VoteSigner, crypto::VrfProver, registration::Registration,
};

fn signer(n: u8) -> PrivateKeySigner {
    match PrivateKeySigner::from_bytes(&B256::repeat_byte(n)) {
        Ok(s) => s,
        Err(e) => panic!("test key {n}: {e}"),
    }
}

fn sign<T: SignableTransaction<alloy_primitives::Signature>>(
    key: &PrivateKeySigner,
    tx: T,
) -> TxEnvelope
where
    alloy_consensus::Signed<T>: Into<TxEnvelope>,
{
    let sig = match key.sign_hash_sync(&tx.signature_hash()) {
        Ok(s) => s,
        Err(e) => panic!("signing: {e}"),
    };
    tx.into_signed(sig).into()
}

/// Signed transactions of every admitted type, valid on both fixture chains when
/// `legacy_only` is set (Byzantium), else on the latest-fork chain.
pub fn transactions(legacy_only: bool) -> Vec<TxEnvelope> {
    let key = signer(1);
    let to = TxKind::Call(Address::repeat_byte(0x42));
    let mut out = vec![
        sign(
            &key,
            TxLegacy {
                chain_id: Some(CHAIN_ID),
                nonce: 0,
                gas_price: 2_000_000_000,
                gas_limit: 21_000,
                to,
                value: U256::from(1000),
                input: Bytes::new(),
            },
        ),
        // A contract creation (returns 0x00 on call).
        sign(
            &key,
            TxLegacy {
                chain_id: Some(CHAIN_ID),
                nonce: 1,
                gas_price: 2_000_000_000,
                gas_limit: 100_000,
                to: TxKind::Create,
                value: U256::ZERO,
                input: Bytes::from_static(&[
                    0x60, 0x01, 0x60, 0x00, 0x53, 0x60, 0x01, 0x60, 0x00, 0xf3,
                ]),
            },
        ),
    ];
    if !legacy_only {
        out.push(sign(
            &key,
            TxEip1559 {
                chain_id: CHAIN_ID,
                nonce: 2,
                gas_limit: 21_000,
                max_fee_per_gas: 3_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to,
                value: U256::from(7),
                access_list: Default::default(),
                input: Bytes::new(),
            },
        ));
        out.push(sign(
            &key,
            TxEip2930 {
                chain_id: CHAIN_ID,
                nonce: 3,
                gas_price: 2_000_000_000,
                gas_limit: 30_000,
                to,
                value: U256::from(9),
                access_list: Default::default(),
                input: Bytes::from_static(b"kalgo"),
            },
        ));
    }
    out
}

/// Raw transactions (EIP-2718 encodings) of [`transactions`].
pub fn raw_transactions(legacy_only: bool) -> Vec<Vec<u8>> {
    transactions(legacy_only)
        .iter()
        .map(Encodable2718::encoded_2718)
        .collect()
}

/// A block with `transactions(legacy_only)` executed on the fixture parent and a
/// state funding the sender, as gossip carries it.
pub fn block(byzantium: bool) -> Vec<u8> {
    let cfg = config(byzantium);
    let txs = transactions(byzantium);
    let state = funded_state([signer(1).address()]);
    let attrs = BlockAttributes {
        timestamp: 10,
        coinbase: Address::repeat_byte(0xcb),
        gas_limit: FIXTURE_GAS_LIMIT,
        seed: B256::repeat_byte(5),
        proposer: Address::repeat_byte(0xcc),
        total_balance_of_miners: U256::from(1),
        extra_data: Bytes::new(),
    };
    match execute_block(&cfg, &state, &fixture_parent(), &attrs, txs) {
        Ok(executed) => encode_block(&executed.block),
        Err(e) => panic!("sample block: {e}"),
    }
}

/// A registration with real keys for `owner` starting at `start`.
pub fn registration(owner: Address, start: u64) -> Registration {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    let keys = match RealMinerKeys::generate(
        &mut rng,
        MinerId(owner.0.0),
        CHAIN_ID,
        start,
        start + 200,
        100,
    ) {
        Ok(k) => k,
        Err(e) => panic!("keygen: {e}"),
    };
    Registration {
        start,
        lifespan: 100,
        coinbase: owner.0.0,
        vrf_pk: keys.vrf.vrf_public(),
        vote_pk: keys.votes.master_public(),
    }
}

/// Calls to the miner contract: a valid registration, one with lifespan 0, a
/// coinbase update by the registered miner, every view, and a heartbeat by the
/// registered miner (last).
pub fn miner_calls() -> Vec<MinerCall> {
    let height = 5u16;
    let valid = registration(CALLERS[1], u64::from(height) + 100);
    let zero_lifespan = Registration {
        lifespan: 0,
        ..valid
    };
    let a = CALLERS[0];
    let n = U256::from(height);
    let inputs: Vec<(u8, Vec<u8>)> = vec![
        (1, miner_key_calldata(&valid).to_vec()),
        (1, miner_key_calldata(&zero_lifespan).to_vec()),
        (
            0,
            IMiner::setCoinbaseCall {
                number: n,
                coinbase: Address::repeat_byte(0xcb),
            }
            .abi_encode(),
        ),
        (
            2,
            IMiner::getCall {
                number: n,
                miner: a,
            }
            .abi_encode(),
        ),
        (
            2,
            IMiner::isMinerOfHeightCall {
                number: n,
                miner: a,
            }
            .abi_encode(),
        ),
        (
            2,
            IMiner::getNewAddedMinersCountCall {
                number: U256::from(genesis_registration().start),
            }
            .abi_encode(),
        ),
        (
            2,
            IMiner::getNewAddedMinerCall {
                number: U256::from(genesis_registration().start),
                index: 0,
            }
            .abi_encode(),
        ),
        (0, IMiner::heartbeatCall {}.abi_encode()),
    ];
    inputs
        .into_iter()
        .map(|(caller, input)| MinerCall {
            caller,
            value: false,
            height,
            input,
        })
        .collect()
}
