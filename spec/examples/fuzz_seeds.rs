//! Writes the fuzzers' seed corpus from real encodings: signed votes, proposals,
//! certificates, status messages and a vote-key file.
//!
//! `cargo run -p spec --example fuzz_seeds -- fuzz/corpus`

use rand_core::SeedableRng;
use spec::auth::RealMinerKeys;
use spec::codec::{CertVote, Certificate, StatusMsg, WireMessage};
use spec::params::Params;
use spec::types::{Hrs, MinerId, Step, Value};
use std::path::{Path, PathBuf};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(42);
    // Fixed committee: every registered miner votes, so every key yields votes.
    let params = Params::fixed_committee(1);
    let seed = [9u8; 32];
    let keys = RealMinerKeys::generate(&mut rng, MinerId::from_index(1), 1, 1, 1000, 100)?;
    let value = Value([0xab; 32]);
    let mut messages = Vec::new();
    for (i, step) in [2u32, 3, 4, 5].into_iter().enumerate() {
        if let Some(v) = keys.cast_vote(
            &params,
            Hrs::new(5, 1, Step(step)),
            value,
            &seed,
            1_000,
            4_000,
        )? {
            messages.push((format!("vote-{i}"), WireMessage::Vote(v)));
        }
    }
    if let Some((p, _)) = keys.propose(&params, 5, 1, value, &seed, 1_000, 4_000)? {
        messages.push(("proposal".into(), WireMessage::Proposal(p)));
        let cert_vote = keys
            .cast_vote(
                &params,
                Hrs::new(5, 1, Step::CERT),
                value,
                &seed,
                1_000,
                4_000,
            )?
            .map(|v| CertVote {
                voter: v.voter,
                credential: v.credential,
                signature: v.signature,
            });
        if let Some(cv) = cert_vote {
            let cert = Certificate {
                height: 5,
                round: 1,
                value,
                proposal: p,
                votes: vec![cv],
            };
            messages.push(("certificate".into(), WireMessage::Certificate(cert)));
        }
    }
    messages.push((
        "status".into(),
        WireMessage::Status(StatusMsg {
            height: 5,
            round: 2,
        }),
    ));
    for (name, m) in &messages {
        write(&dir, "wire_decode", name, &m.encode())?;
        if let WireMessage::Vote(_) = m {
            write(&dir, "vote_auth", name, &m.encode())?;
        }
    }
    let small = spec::crypto::real::FsKeySet::generate(&mut rng, 1, 0, 3)?;
    write(&dir, "keyset_decode", "three-subkeys", &small.to_bytes())?;
    // A friendly schedule: fire the proposal timers, deliver everything in order.
    let mut schedule = Vec::new();
    for _ in 0..3 {
        for n in 0..3u8 {
            schedule.extend_from_slice(&[3, n]);
        }
        schedule.extend(std::iter::repeat_n(0u8, 120));
    }
    write(&dir, "machine_schedule", "friendly", &schedule)?;
    println!(
        "wrote {} wire messages and seeds for 4 targets under {}",
        messages.len(),
        dir.display()
    );
    Ok(())
}
