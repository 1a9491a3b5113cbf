//! A representative subset of the Ethereum GeneralStateTests, run through kalgo's
//! executor, storage overlay and state root. The full sets run with
//! `cargo run --release -p node -- statetest ../shared/fixtures/ethereum-tests/{byzantium,cancun}/GeneralStateTests`.

use std::path::PathBuf;

use actors::execution::statetest::{StateTestOptions, collect_json_files, run_files};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/ethereum-tests"
);

fn subset(set: &str, every: usize) -> Vec<PathBuf> {
    let dir = PathBuf::from(FIXTURES).join(set).join("GeneralStateTests");
    assert!(
        dir.is_dir(),
        "Ethereum state test fixtures not found at {} (expected the shared/ folder beside the repository)",
        dir.display()
    );
    let files = collect_json_files(&[dir]).unwrap_or_else(|e| panic!("cannot list fixtures: {e}"));
    files.into_iter().step_by(every).collect()
}

fn run_and_check(set: &str, fork: &str, every: usize) {
    let files = subset(set, every);
    let options = StateTestOptions {
        forks: vec![fork.to_string()],
    };
    let report = run_files(&files, &options);
    let tally = report.forks.get(fork).copied().unwrap_or_default();
    println!("{set} ({} files): {}", files.len(), report.summary());
    let ran = tally.passed + tally.failed;
    assert!(ran > 200, "too few {fork} cases ran: {ran}");
    assert!(
        tally.passed * 100 >= ran * 99,
        "{fork}: {} passed, {} failed (< 99%)\n{}",
        tally.passed,
        tally.failed,
        report.summary()
    );
    assert!(
        report.file_errors.is_empty(),
        "unreadable fixtures: {:?}",
        report.file_errors
    );
}

#[test]
fn byzantium_subset_passes() {
    run_and_check("byzantium", "Byzantium", 6);
}

#[test]
fn cancun_subset_passes() {
    run_and_check("cancun", "Cancun", 12);
}
