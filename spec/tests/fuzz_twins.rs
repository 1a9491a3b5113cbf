//! Proptest twins of the cargo-fuzz targets in `fuzz/`: the same properties, run by
//! `cargo test` on stable Rust in every CI run. (The machine-schedule twin lives in
//! `spec::schedule`'s tests.)

use proptest::prelude::*;
use rand_core::SeedableRng;
use spec::auth::{MinerRecord, REAL, RealMinerKeys, authenticate_vote_bytes};
use spec::codec::WireMessage;
use spec::crypto::real::FsKeySet;
use spec::params::Params;
use spec::types::{Hrs, MinerId, Step, Value};
use std::sync::OnceLock;

struct Fixture {
    record: MinerRecord,
    vote: Vec<u8>,
    keyset: Vec<u8>,
}

const SEED: [u8; 32] = [9; 32];

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let keys = RealMinerKeys::generate(&mut rng, MinerId::from_index(1), 1, 1, 1000, 100)
            .expect("keys");
        let params = Params::fixed_committee(1);
        let vote = keys
            .cast_vote(
                &params,
                Hrs::new(5, 1, Step(2)),
                Value([1; 32]),
                &SEED,
                1_000,
                4_000,
            )
            .expect("sign")
            .expect("fixed committee always votes");
        let keyset = FsKeySet::generate(&mut rng, 1, 0, 2).expect("keyset");
        Fixture {
            record: keys.record(1_000),
            vote: WireMessage::Vote(vote).encode(),
            keyset: keyset.to_bytes().to_vec(),
        }
    })
}

fn mutate(mut bytes: Vec<u8>, at: usize, xor: u8) -> Vec<u8> {
    if !bytes.is_empty() {
        let i = at % bytes.len();
        bytes[i] ^= xor;
    }
    bytes
}

fn auth(bytes: &[u8]) -> bool {
    let f = fixture();
    let rec = f.record;
    authenticate_vote_bytes(
        &REAL,
        &Params::fixed_committee(1),
        bytes,
        |id| (*id == MinerId::from_index(1)).then_some(rec),
        4_000,
        &SEED,
    )
    .is_ok()
}

#[test]
fn the_fixture_vote_authenticates() {
    assert!(auth(&fixture().vote));
}

proptest! {
    /// Twin of `wire_decode`: what decodes is canonical and stable.
    #[test]
    fn wire_decode(bytes in proptest::collection::vec(any::<u8>(), 0..400), at in any::<usize>(), xor in 1u8..) {
        for candidate in [bytes, mutate(fixture().vote.clone(), at, xor)] {
            if let Ok(msg) = WireMessage::decode(&candidate) {
                let again = msg.encode();
                prop_assert_eq!(&again, &candidate);
                prop_assert_eq!(WireMessage::decode(&again), Ok(msg));
            }
        }
    }

    /// Twin of `vote_auth`: garbage and any single-byte corruption of a valid vote
    /// are rejected, without panicking.
    #[test]
    fn vote_auth(bytes in proptest::collection::vec(any::<u8>(), 0..400), at in any::<usize>(), xor in 1u8..) {
        prop_assert!(!auth(&bytes));
        prop_assert!(!auth(&mutate(fixture().vote.clone(), at, xor)));
    }

    /// Twin of `keyset_decode`: decoding never panics; what decodes round-trips.
    #[test]
    fn keyset_decode(bytes in proptest::collection::vec(any::<u8>(), 0..600), at in any::<usize>(), xor in 1u8..) {
        for candidate in [bytes, mutate(fixture().keyset.clone(), at, xor)] {
            if let Ok(k) = FsKeySet::from_bytes(&candidate) {
                prop_assert_eq!(&k.to_bytes()[..], &candidate[..]);
            }
        }
    }
}
