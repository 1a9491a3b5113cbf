//! Vote authentication cost: `cargo bench -p spec --bench vote_auth`.
//!
//! A small timing harness (no criterion): each figure is the median of several
//! samples, each sample timing many iterations with `std::time::Instant`.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use rand_core::SeedableRng;
use schnorrkel::vrf::{KUSAMA_VRF, VRFPreOut, VRFProofBatchable, dleq_verify_batch};
use spec::auth::{
    MinerRecord, REAL, RealMinerKeys, authenticate_vote, authenticate_vote_bytes,
    authenticate_votes,
};
use spec::codec::{VoteMsg, WireMessage};
use spec::crypto::real::{Ed25519FsVerifier, SchnorrkelVrf};
use spec::crypto::{
    CTX_SORTITION, OUT_SORTITION, SigItem, SignedMessage, VoteVerifier, VrfInput, VrfItem,
    VrfVerifier, fs_offset, subkey_cert_message,
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

/// Like [`median_us`] for two closures whose samples alternate, so a load that
/// changes during the run weighs on both alike (the machine may be shared).
fn median_pair_us(
    iters: (usize, usize),
    units: (usize, usize),
    mut f: impl FnMut(),
    mut g: impl FnMut(),
) -> (f64, f64) {
    let time = |iters: usize, units: usize, h: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..iters {
            h();
        }
        t.elapsed().as_secs_f64() * 1e6 / (iters * units) as f64
    };
    time(iters.0.div_ceil(4), 1, &mut f);
    time(iters.1.div_ceil(4), 1, &mut g);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        a.push(time(iters.0, units.0, &mut f));
        b.push(time(iters.1, units.1, &mut g));
    }
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    (a[SAMPLES / 2], b[SAMPLES / 2])
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

    // 2. schnorrkel VRF (96-byte batchable proof): single vs batched, per vote.
    let input = VrfInput::sortition(7, hrs, &SEED);
    let vrf_items: Vec<VrfItem<'_>> = (0..n_miners)
        .map(|i| VrfItem {
            pk: &recs[i].vrf_pk,
            input,
            cred: &votes[i].credential,
        })
        .collect();
    assert!(SchnorrkelVrf.verify_batch(&vrf_items).is_ok());
    let mut i = 0usize;
    let (vrf_single, vrf_batch256) = median_pair_us(
        (400, 3),
        (1, 256),
        || {
            let it = &vrf_items[i % n_miners];
            black_box(
                SchnorrkelVrf
                    .verify(it.pk, &it.input, black_box(it.cred))
                    .is_ok(),
            );
            i += 1;
        },
        || {
            black_box(
                SchnorrkelVrf
                    .verify_batch(black_box(&vrf_items[..256]))
                    .is_ok(),
            );
        },
    );
    let mut i = 0usize;
    let vrf_lib_single = median_us(400, 1, || {
        let k = i % n_miners;
        black_box(bare_vrf(
            &recs[k].vrf_pk,
            &votes[k].credential.output,
            &votes[k].credential.proof,
        ));
        i += 1;
    });
    let mut i = 0usize;
    let vrf_convenience = median_us(400, 1, || {
        let k = i % n_miners;
        let c = &votes[k].credential;
        let pk = schnorrkel::PublicKey::from_bytes(&recs[k].vrf_pk).unwrap();
        let out = VRFPreOut::from_bytes(&c.output).unwrap();
        let proof = VRFProofBatchable::from_bytes(&c.proof).unwrap();
        let t = || schnorrkel::signing_context(CTX_SORTITION).bytes(input.message());
        let short = proof.shorten_vrf(&pk, t(), &out).unwrap();
        black_box(pk.vrf_verify(t(), &out, &short).is_ok());
        i += 1;
    });
    let mut i = 0usize;
    let vrf_batch2 = median_us(200, 2, || {
        let k = (2 * i) % n_miners;
        black_box(
            SchnorrkelVrf
                .verify_batch(black_box(&vrf_items[k..k + 2]))
                .is_ok(),
        );
        i += 1;
    });
    let vrf_batch64 = median_us(8, 64, || {
        black_box(
            SchnorrkelVrf
                .verify_batch(black_box(&vrf_items[..64]))
                .is_ok(),
        );
    });
    println!("schnorrkel VRF check (96-byte batchable proof), µs per vote:");
    println!("  single, ours (SchnorrkelVrf::verify)             {vrf_single:8.2}");
    println!("  single, bare (parse + shorten_dleq + dleq_verify){vrf_lib_single:8.2}");
    println!("  single, schnorrkel shorten_vrf + vrf_verify      {vrf_convenience:8.2}");
    println!(
        "  batch of 2        {vrf_batch2:8.2}   ({:.2}x faster)",
        vrf_single / vrf_batch2
    );
    println!(
        "  batch of 64       {vrf_batch64:8.2}   ({:.2}x faster)",
        vrf_single / vrf_batch64
    );
    println!(
        "  batch of 256      {vrf_batch256:8.2}   ({:.2}x faster)",
        vrf_single / vrf_batch256
    );

    // 3. Full path vs bare library calls doing the same crypto work.
    let lookup = |id: &MinerId| {
        let i = u64::from_be_bytes(id.0[..8].try_into().ok()?) as usize;
        recs.get(i).copied()
    };
    let mut i = 0usize;
    let mut m = 0usize;
    let (ours, bare) = median_pair_us(
        (200, 200),
        (1, 1),
        || {
            let k = i % n_miners;
            black_box(
                authenticate_vote_bytes(&REAL, &params, black_box(&wire[k]), lookup, TOTAL, &SEED)
                    .is_ok(),
            );
            i += 1;
        },
        || {
            let k = m % n_miners;
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
            // 1 schnorrkel VRF verify of the same 96-byte batchable proof the path uses.
            let hash = bare_vrf(&r.vrf_pk, &v.credential.output, &v.credential.proof);
            // Sortition CDF.
            let n = weight(params.total_weight, stake, TOTAL, &hash).unwrap();
            let j = choose(&hash, n, params.soft.expected, params.total_weight).unwrap();
            black_box((ok1, ok2, j));
            m += 1;
        },
    );
    let mut i = 0usize;
    let cdf_only = median_us(2000, 1, || {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        black_box(choose(black_box(&h), 1_250_000_000, 2990, 10_000_000_000).unwrap());
        i += 1;
    });
    let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
    let certs: Vec<[u8; 63]> = votes
        .iter()
        .map(|v| subkey_cert_message(7, offset, &v.signature.sub_key))
        .collect();
    let (batched_full, bare_batched) = median_pair_us(
        (3, 3),
        (256, 256),
        || {
            black_box(authenticate_votes(&REAL, &params, black_box(&pairs), TOTAL, &SEED).len());
        },
        || {
            // One ed25519 batch over 512 signatures (keys parsed from bytes).
            let mut ms: Vec<[u8; 69]> = Vec::with_capacity(n_miners);
            let mut keys = Vec::with_capacity(2 * n_miners);
            let mut sigs = Vec::with_capacity(2 * n_miners);
            for (v, r) in votes.iter().zip(&recs) {
                ms.push(
                    SignedMessage {
                        chain_id: 7,
                        height: v.height,
                        round: v.round,
                        step: v.step,
                        value: v.value,
                    }
                    .to_bytes(),
                );
                keys.push(VerifyingKey::from_bytes(&r.vote_master_pk).unwrap());
                sigs.push(Signature::from_bytes(&v.signature.sub_key_sig));
                keys.push(VerifyingKey::from_bytes(&v.signature.sub_key).unwrap());
                sigs.push(Signature::from_bytes(&v.signature.sig));
            }
            let mut refs: Vec<&[u8]> = Vec::with_capacity(2 * n_miners);
            for (c, m) in certs.iter().zip(&ms) {
                refs.push(c);
                refs.push(m);
            }
            let ok_sig = ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_ok();
            // One schnorrkel DLEQ batch over the 256 batchable proofs.
            let mut pks = Vec::with_capacity(n_miners);
            let mut ios = Vec::with_capacity(n_miners);
            let mut proofs = Vec::with_capacity(n_miners);
            for (v, r) in votes.iter().zip(&recs) {
                let pk = schnorrkel::PublicKey::from_bytes(&r.vrf_pk).unwrap();
                let t = schnorrkel::signing_context(CTX_SORTITION).bytes(input.message());
                ios.push(
                    VRFPreOut::from_bytes(&v.credential.output)
                        .unwrap()
                        .attach_input_hash(&pk, t)
                        .unwrap(),
                );
                proofs.push(VRFProofBatchable::from_bytes(&v.credential.proof).unwrap());
                pks.push(pk);
            }
            let ok_vrf = dleq_verify_batch(&ios, &proofs, &pks, KUSAMA_VRF).is_ok();
            // Sortition per vote.
            for io in &ios {
                let hash: [u8; 32] = io.make_bytes(OUT_SORTITION);
                let n = weight(params.total_weight, stake, TOTAL, &hash).unwrap();
                black_box(choose(&hash, n, params.soft.expected, params.total_weight).unwrap());
            }
            black_box((ok_sig, ok_vrf));
        },
    );
    println!("full vote authentication, µs per vote:");
    println!("  bare primitives (2 ed25519 + 1 VRF + sortition)  {bare:8.2}");
    println!(
        "  ours: decode + FS signature + VRF + sortition     {ours:8.2}   (ratio {:.3})",
        ours / bare
    );
    println!(
        "  bare primitives, batched over 256 votes           {bare_batched:8.2}   (ratio {:.3} to bare single)",
        bare_batched / bare
    );
    println!(
        "  ours, batched over 256 votes                      {batched_full:8.2}   (ratio {:.3} to bare batched, {:.3} to bare single)",
        batched_full / bare_batched,
        batched_full / bare
    );
    println!("  of which sortition CDF alone (n=W/8, t=2990)      {cdf_only:8.2}");
}

/// The least the library needs to verify one batchable proof: parse, hash the input
/// to the curve once, recompute the short proof's challenge, check the DLEQ. Returns
/// the sortition hash.
fn bare_vrf(pk: &[u8; 32], output: &[u8; 32], proof: &[u8; 96]) -> [u8; 32] {
    let pk = schnorrkel::PublicKey::from_bytes(pk).unwrap();
    let proof = VRFProofBatchable::from_bytes(proof).unwrap();
    let input = VrfInput::sortition(7, Hrs::new(150, 1, Step::SOFT), &SEED);
    let t = schnorrkel::signing_context(CTX_SORTITION).bytes(input.message());
    let io = VRFPreOut::from_bytes(output)
        .unwrap()
        .attach_input_hash(&pk, t)
        .unwrap();
    let short = proof.shorten_dleq(merlin::Transcript::new(b"VRF"), &pk, &io, KUSAMA_VRF);
    pk.dleq_verify(merlin::Transcript::new(b"VRF"), &io, &short, KUSAMA_VRF)
        .unwrap();
    io.make_bytes(OUT_SORTITION)
}
