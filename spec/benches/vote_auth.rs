//! Vote authentication cost: `cargo bench -p spec --bench vote_auth`.
//!
//! A small timing harness (no criterion): each figure is the median of several
//! samples, each sample timing many iterations with `std::time::Instant`.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rand_core::SeedableRng;
use schnorrkel::vrf::{VRFPreOut, VRFProof};
use spec::auth::{
    MinerRecord, REAL, RealMinerKeys, authenticate_vote, authenticate_vote_bytes,
    authenticate_votes,
};
use spec::codec::{VoteMsg, WireMessage};
use spec::crypto::real::Ed25519FsVerifier;
use spec::crypto::{
    CTX_SORTITION, OUT_SORTITION, SigItem, SignedMessage, VoteVerifier, VrfInput, fs_offset,
    subkey_cert_message,
};
use spec::params::Params;
use spec::sortition::{choose, weight};
use spec::types::{Hrs, MinerId, Step, Value};
use std::hint::black_box;
use std::time::Instant;

const SAMPLES: usize = 7;
const TOTAL: u128 = 1_000_000_000_000_000_000_000_000;
const SEED: [u8; 32] = [0x5e; 32];

/// Median over `SAMPLES` of the time per unit (µs) of `f`, run `iters` times per
/// sample; `units` work units per call.
fn median_us(iters: usize, units: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters.div_ceil(4) {
        f();
    }
    let mut xs: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / (iters * units) as f64
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    xs[SAMPLES / 2]
}

fn main() {
    let params = Params::new_chain(7);
    let n_miners = 256usize;
    let stake = TOTAL / 8; // ~374 soft seats each: a realistic CDF walk
    let hrs = Hrs::new(150, 1, Step::SOFT);
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    let keys: Vec<RealMinerKeys> = (0..n_miners)
        .map(|i| {
            let mut id = [0u8; 20];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            RealMinerKeys::generate(&mut rng, MinerId(id), 7, 150, 151, params.lifespan).unwrap()
        })
        .collect();
    let recs: Vec<MinerRecord> = keys.iter().map(|k| k.record(stake)).collect();
    let votes: Vec<VoteMsg> = keys
        .iter()
        .map(|k| {
            k.cast_vote(&params, hrs, Value([9; 32]), &SEED, stake, TOTAL)
                .unwrap()
                .unwrap()
        })
        .collect();
    let wire: Vec<Vec<u8>> = votes
        .iter()
        .map(|v| WireMessage::Vote(*v).encode())
        .collect();
    for (v, r) in votes.iter().zip(&recs) {
        assert!(authenticate_vote(&REAL, &params, v, r, TOTAL, &SEED).unwrap() > 0);
    }
    let offset = fs_offset(150, params.lifespan).unwrap();
    let msgs: Vec<SignedMessage> = votes
        .iter()
        .map(|v| SignedMessage {
            chain_id: 7,
            height: v.height,
            round: v.round,
            step: v.step,
            value: v.value,
        })
        .collect();
    let items: Vec<SigItem<'_>> = (0..n_miners)
        .map(|i| SigItem {
            master_pk: &recs[i].vote_master_pk,
            offset,
            msg: &msgs[i],
            sig: &votes[i].signature,
        })
        .collect();

    println!("vote_auth bench: {n_miners} distinct voters, soft step, median of {SAMPLES} samples");

    // 1. ed25519: single vs batched, per vote (2 signatures per vote).
    let mut i = 0usize;
    let single = median_us(400, 1, || {
        black_box(
            Ed25519FsVerifier
                .verify(black_box(&items[i % n_miners]))
                .is_ok(),
        );
        i += 1;
    });
    let batch64 = median_us(8, 64, || {
        black_box(
            Ed25519FsVerifier
                .verify_batch(black_box(&items[..64]))
                .is_ok(),
        );
    });
    let batch256 = median_us(3, 256, || {
        black_box(
            Ed25519FsVerifier
                .verify_batch(black_box(&items[..256]))
                .is_ok(),
        );
    });
    println!("ed25519 forward-secure signature check (2 verifies), µs per vote:");
    println!("  single            {single:8.2}");
    println!(
        "  batch of 64       {batch64:8.2}   ({:.2}x faster)",
        single / batch64
    );
    println!(
        "  batch of 256      {batch256:8.2}   ({:.2}x faster)",
        single / batch256
    );

    // 2. Full path vs bare library calls doing the same crypto work.
    let lookup = |id: &MinerId| {
        let i = u64::from_be_bytes(id.0[..8].try_into().ok()?) as usize;
        recs.get(i).copied()
    };
    let mut i = 0usize;
    let ours = median_us(200, 1, || {
        let k = i % n_miners;
        black_box(
            authenticate_vote_bytes(&REAL, &params, black_box(&wire[k]), lookup, TOTAL, &SEED)
                .is_ok(),
        );
        i += 1;
    });
    let mut i = 0usize;
    let bare = median_us(200, 1, || {
        let k = i % n_miners;
        let v = &votes[k];
        let r = &recs[k];
        // 2 ed25519 verifies (keys parsed from bytes, as on the wire).
        let master = VerifyingKey::from_bytes(&r.vote_master_pk).unwrap();
        let sub = VerifyingKey::from_bytes(&v.signature.sub_key).unwrap();
        let cert = subkey_cert_message(7, offset, &v.signature.sub_key);
        let ok1 = master
            .verify(&cert, &Signature::from_bytes(&v.signature.sub_key_sig))
            .is_ok();
        let ok2 = sub
            .verify(
                &msgs[k].to_bytes(),
                &Signature::from_bytes(&v.signature.sig),
            )
            .is_ok();
        // 1 schnorrkel VRF verify.
        let pk = schnorrkel::PublicKey::from_bytes(&r.vrf_pk).unwrap();
        let out = VRFPreOut::from_bytes(&v.credential.output).unwrap();
        let proof = VRFProof::from_bytes(&v.credential.proof).unwrap();
        let input = VrfInput::sortition(7, hrs, &SEED);
        let t = schnorrkel::signing_context(CTX_SORTITION).bytes(input.message());
        let (io, _) = pk.vrf_verify(t, &out, &proof).unwrap();
        let hash: [u8; 32] = io.make_bytes(OUT_SORTITION);
        // Sortition CDF.
        let n = weight(params.total_weight, stake, TOTAL, &hash).unwrap();
        let j = choose(&hash, n, params.soft.expected, params.total_weight).unwrap();
        black_box((ok1, ok2, j));
        i += 1;
    });
    let mut i = 0usize;
    let cdf_only = median_us(2000, 1, || {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        black_box(choose(black_box(&h), 1_250_000_000, 2990, 10_000_000_000).unwrap());
        i += 1;
    });
    let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
    let batched_full = median_us(3, 256, || {
        black_box(authenticate_votes(&REAL, &params, black_box(&pairs), TOTAL, &SEED).len());
    });
    println!("full vote authentication, µs per vote:");
    println!("  bare primitives (2 ed25519 + 1 VRF + sortition)  {bare:8.2}");
    println!(
        "  ours: decode + FS signature + VRF + sortition     {ours:8.2}   (ratio {:.3})",
        ours / bare
    );
    println!(
        "  ours, batched over 256 votes                      {batched_full:8.2}   (ratio {:.3})",
        batched_full / bare
    );
    println!("  of which sortition CDF alone (n=W/8, t=2990)      {cdf_only:8.2}");
}
