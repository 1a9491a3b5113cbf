//! Writes the seed corpus of the execution-layer fuzz targets from real encodings:
//! `cargo run -p actors --example fuzz_seeds -- fuzz/corpus`.

#[path = "../tests/samples/mod.rs"]
mod samples;

use std::path::Path;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: fuzz_seeds CORPUS_DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    for (chain, byzantium) in [(0u8, false), (1u8, true)] {
        for (i, raw) in samples::raw_transactions(byzantium).iter().enumerate() {
            let mut seed = vec![chain];
            seed.extend_from_slice(raw);
            write(dir, "tx_decode", &format!("chain{chain}-tx{i}"), &seed)?;
        }
        let mut seed = vec![chain];
        seed.extend_from_slice(&samples::block(byzantium));
        write(dir, "block_decode", &format!("chain{chain}-block"), &seed)?;
    }
    for (i, call) in samples::miner_calls().iter().enumerate() {
        write(dir, "miner_call", &format!("call{i}"), &call.to_bytes())?;
    }
    println!("wrote seeds under {}", dir.display());
    Ok(())
}
