//! Proptest twins of the execution-layer cargo-fuzz targets (`fuzz/fuzz_targets/
//! tx_decode.rs`, `block_decode.rs`, `miner_call.rs`): the same checks
//! ([`actors::fuzz_checks`]) on real encodings, their mutations and arbitrary bytes,
//! in every `cargo test` on stable Rust.

mod samples;

use actors::execution::miner::abi::IMiner;
use actors::fuzz_checks::{
    MinerCall, Outcome, check_block_bytes, check_miner_call, check_raw_transaction,
};
use alloy_sol_types::SolCall;
use proptest::prelude::*;

/// Flips, overwrites, truncates or extends `bytes` as the fuzzer would.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, kind, val) in edits {
        if bytes.is_empty() {
            bytes.push(val);
            continue;
        }
        let i = pos % bytes.len();
        match kind % 4 {
            0 => bytes[i] ^= val | 1,
            1 => bytes[i] = val,
            2 => bytes.truncate(i),
            _ => bytes.insert(i, val),
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)
}

#[test]
fn real_inputs_reach_the_accepting_paths() {
    for byzantium in [false, true] {
        for raw in samples::raw_transactions(byzantium) {
            assert_eq!(check_raw_transaction(byzantium, &raw), Outcome::Accepted);
        }
        assert_eq!(
            check_block_bytes(byzantium, &samples::block(byzantium)),
            Outcome::Accepted
        );
    }
    let calls = samples::miner_calls();
    let outcomes: Vec<Outcome> = calls.iter().map(check_miner_call).collect();
    // The valid `set`, the coinbase update and the heartbeat answer true, lifespan
    // 0 answers false, every view returns data.
    assert_eq!(outcomes[0], Outcome::Accepted, "valid set");
    assert_eq!(outcomes[1], Outcome::Refused, "lifespan 0");
    assert!(
        outcomes[2..].iter().all(|o| *o == Outcome::Accepted),
        "{outcomes:?}"
    );
    // A heartbeat from a sender that is not a registered miner is refused.
    let mut stranger = calls[calls.len() - 1].clone();
    assert_eq!(stranger.input, IMiner::heartbeatCall {}.abi_encode());
    stranger.caller = 2;
    assert_eq!(check_miner_call(&stranger), Outcome::Refused);
    // At height 0 (miner registered from 1) a heartbeat is taken and, seen at 0
    // being the empty record, writes nothing (a case the fuzzer found).
    let mut at_zero = calls[calls.len() - 1].clone();
    at_zero.height = 0;
    assert_eq!(check_miner_call(&at_zero), Outcome::Accepted);
    // Value is refused.
    let mut paid = calls[0].clone();
    paid.value = true;
    assert_eq!(check_miner_call(&paid), Outcome::Refused);
    // The fuzz encoding of a call round-trips.
    assert_eq!(MinerCall::from_bytes(&calls[0].to_bytes()), calls[0]);
}

#[test]
fn garbage_is_undecodable_not_a_crash() {
    assert_eq!(check_raw_transaction(false, &[]), Outcome::Undecodable);
    assert_eq!(
        check_raw_transaction(false, &[0x02, 0xc0]),
        Outcome::Undecodable
    );
    assert_eq!(check_block_bytes(false, &[0xff; 3]), Outcome::Undecodable);
    assert_eq!(
        check_block_bytes(false, &[0xff, 0xff, 0xff, 0xff, 0]),
        Outcome::Undecodable
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_transactions(which in 0usize..4, byz in any::<bool>(), e in edits()) {
        let raws = samples::raw_transactions(byz);
        let raw = mutate(raws[which % raws.len()].clone(), &e);
        check_raw_transaction(byz, &raw);
    }

    #[test]
    fn arbitrary_transactions(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_raw_transaction(false, &bytes);
    }

    #[test]
    fn mutated_blocks(byz in any::<bool>(), e in edits()) {
        check_block_bytes(byz, &mutate(samples::block(byz), &e));
    }

    #[test]
    fn mutated_miner_calls(which in 0usize..7, e in edits(), caller in 0u8..3, value in any::<bool>()) {
        let calls = samples::miner_calls();
        let mut call = calls[which % calls.len()].clone();
        call.input = mutate(call.input, &e);
        call.caller = caller;
        call.value = value;
        check_miner_call(&call);
    }

    #[test]
    fn arbitrary_miner_calls(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        check_miner_call(&MinerCall::from_bytes(&bytes));
    }
}
