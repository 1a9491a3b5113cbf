//! Ethereum GeneralStateTests runner (`kalgo statetest DIR…`).
//!
//! Each test case (file × test × fork × data/gas/value index) is loaded into a
//! [`MemoryState`] (our storage abstraction), executed through [`TxExecutor`] over a
//! [`StateOverlay`], and hashed with [`state_root`]: the pre-state's tries are
//! built incrementally into the memory state's node map, and the post-state root is
//! the incremental update over them (the path blocks use). The post-state root and the
//! keccak of the RLP of the logs are compared with the fixture.
//!
//! Forks from Byzantium on are run; older forks and forks revm does not
//! implement here are counted as skipped. EIP-3607 (reject senders with code) is
//! switched off for forks before London: the legacy fixtures predate it.

use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    sync::Mutex,
};

use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv, either::Either, result::EVMError},
    primitives::hardfork::SpecId,
};
use revm_statetest_types::{SpecName, Test, TestSuite, TestUnit};

use crate::execution::{
    executor::TxExecutor,
    memory_state::MemoryState,
    state::{StateOverlay, StorageError, UnknownBlockHash},
    state_root::state_root,
};

/// Fixture files that are skipped on purpose, with the reason. Matched against the
/// file stem.
pub const KNOWN_SKIPS: &[(&str, &str)] = &[
    // EIP-7610: CREATE must fail on an address that has storage but no code and
    // nonce 0. revm only checks code and nonce; such accounts cannot arise on a
    // real chain (EIP-161 era), only in hand-written pre-states.
    (
        "InitCollisionParis",
        "EIP-7610 storage collision (not implemented by revm)",
    ),
    (
        "create2collisionStorageParis",
        "EIP-7610 storage collision (not implemented by revm)",
    ),
    (
        "RevertInCreateInInit_Paris",
        "EIP-7610 storage collision (not implemented by revm)",
    ),
    (
        "RevertInCreateInInitCreate2Paris",
        "EIP-7610 storage collision (not implemented by revm)",
    ),
    (
        "dynamicAccountOverwriteEmpty_Paris",
        "EIP-7610 storage collision (not implemented by revm)",
    ),
    // (The pre-Paris variants of these files expect the old behaviour and pass.)
    // The transaction value is 2^256 + 1: an RLP-level test whose JSON cannot hold a U256.
    (
        "ValueOverflowParis",
        "value above 2^256 cannot be represented (RLP decoding test)",
    ),
];

/// The reason a fixture file is skipped, if it is.
pub fn known_skip(file: &Path) -> Option<&'static str> {
    let stem = file.file_stem()?.to_str()?;
    KNOWN_SKIPS
        .iter()
        .find(|(name, _)| *name == stem)
        .map(|(_, why)| *why)
}

/// Why a single case could not be prepared.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaseError {
    /// The transaction has no secret key to derive the sender from.
    #[error("transaction has no secretKey")]
    MissingSecretKey,
    /// The secret key is not a valid secp256k1 scalar.
    #[error("invalid secret key")]
    InvalidSecretKey,
    /// An index points past the data/gas/value arrays.
    #[error("index out of range: {0}")]
    IndexOutOfRange(&'static str),
    /// A number does not fit its field.
    #[error("value out of range: {0}")]
    Overflow(&'static str),
    /// The transaction fields do not make a valid transaction type.
    #[error("invalid transaction type")]
    InvalidTxType,
}

/// Options of a run.
#[derive(Clone, Debug, Default)]
pub struct StateTestOptions {
    /// Run only these forks (fixture names, e.g. `Byzantium`); empty = all supported.
    pub forks: Vec<String>,
}

/// Counts of one fork.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkTally {
    /// Cases whose root and logs matched (or whose expected exception happened).
    pub passed: usize,
    /// Cases that did not match.
    pub failed: usize,
    /// Cases of forks we do not run.
    pub skipped: usize,
}

/// One failed case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFailure {
    /// Fixture file.
    pub file: PathBuf,
    /// Test name inside the file.
    pub test: String,
    /// Fork name.
    pub fork: String,
    /// Index of the post entry within the fork.
    pub index: usize,
    /// What went wrong.
    pub reason: String,
}

/// The result of a run over files and folders.
#[derive(Clone, Debug, Default)]
pub struct StateTestReport {
    /// Tallies per fork name.
    pub forks: BTreeMap<String, ForkTally>,
    /// Every failed case.
    pub failures: Vec<CaseFailure>,
    /// Files that could not be read or parsed.
    pub file_errors: Vec<(PathBuf, String)>,
    /// Number of JSON files read.
    pub files: usize,
    /// Files skipped on purpose (see [`KNOWN_SKIPS`]), with the reason.
    pub skipped_files: Vec<(PathBuf, &'static str)>,
}

impl StateTestReport {
    /// Total passed over all forks.
    pub fn passed(&self) -> usize {
        self.forks.values().map(|t| t.passed).sum()
    }

    /// Total failed over all forks (including unreadable files).
    pub fn failed(&self) -> usize {
        self.forks.values().map(|t| t.failed).sum::<usize>() + self.file_errors.len()
    }

    /// Whether nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed() == 0
    }

    fn merge(&mut self, other: StateTestReport) {
        for (fork, tally) in other.forks {
            let t = self.forks.entry(fork).or_default();
            t.passed += tally.passed;
            t.failed += tally.failed;
            t.skipped += tally.skipped;
        }
        self.failures.extend(other.failures);
        self.file_errors.extend(other.file_errors);
        self.skipped_files.extend(other.skipped_files);
        self.files += other.files;
    }

    /// Human-readable summary: one line per fork, then the failures.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let mut failures = self.failures.clone();
        failures.sort_by(|a, b| {
            (&a.file, &a.test, &a.fork, a.index).cmp(&(&b.file, &b.test, &b.fork, b.index))
        });
        for f in &failures {
            out.push_str(&format!(
                "FAIL {} :: {} [{} #{}]: {}\n",
                f.file.display(),
                f.test,
                f.fork,
                f.index,
                f.reason
            ));
        }
        for (path, err) in &self.file_errors {
            out.push_str(&format!("ERROR {}: {}\n", path.display(), err));
        }
        let mut skipped = self.skipped_files.clone();
        skipped.sort();
        for (path, why) in &skipped {
            out.push_str(&format!("SKIP {}: {}\n", path.display(), why));
        }
        out.push_str(&format!(
            "{} files ({} skipped whole)\n",
            self.files,
            skipped.len()
        ));
        for (fork, t) in &self.forks {
            out.push_str(&format!(
                "{fork}: {} passed, {} failed, {} skipped\n",
                t.passed, t.failed, t.skipped
            ));
        }
        out.push_str(&format!(
            "total: {} passed, {} failed, {} skipped\n",
            self.passed(),
            self.failed(),
            self.forks.values().map(|t| t.skipped).sum::<usize>()
        ));
        out
    }
}

/// The revm spec a fixture fork name maps to, or `None` for forks we skip.
pub fn spec_for(fork: &SpecName) -> Option<SpecId> {
    Some(match fork {
        SpecName::Byzantium => SpecId::BYZANTIUM,
        SpecName::ConstantinopleFix => SpecId::PETERSBURG,
        SpecName::Istanbul => SpecId::ISTANBUL,
        SpecName::Berlin => SpecId::BERLIN,
        SpecName::London => SpecId::LONDON,
        SpecName::Paris | SpecName::Merge => SpecId::MERGE,
        SpecName::Shanghai => SpecId::SHANGHAI,
        SpecName::Cancun => SpecId::CANCUN,
        SpecName::Prague => SpecId::PRAGUE,
        _ => return None,
    })
}

/// All `.json` files under the given files and folders, sorted.
pub fn collect_json_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut out = Vec::new();
    for path in paths {
        collect_into(path, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn collect_into(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), std::io::Error> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect_into(&entry?.path(), out)?;
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        out.push(path.to_path_buf());
    } else if !path.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
        ));
    }
    Ok(())
}

/// Runs every case of `files`, on all available cores.
pub fn run_files(files: &[PathBuf], options: &StateTestOptions) -> StateTestReport {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let next = Mutex::new(0usize);
    let total = Mutex::new(StateTestReport::default());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut local = StateTestReport::default();
                loop {
                    let index = {
                        let Ok(mut guard) = next.lock() else { break };
                        let i = *guard;
                        *guard += 1;
                        i
                    };
                    let Some(file) = files.get(index) else { break };
                    local.merge(run_file(file, options));
                }
                if let Ok(mut t) = total.lock() {
                    t.merge(local);
                }
            });
        }
    });
    total.into_inner().unwrap_or_default()
}

/// Runs every case of one fixture file. Never panics: a panic inside revm is
/// reported as a file error.
pub fn run_file(file: &Path, options: &StateTestOptions) -> StateTestReport {
    let mut report = StateTestReport {
        files: 1,
        ..Default::default()
    };
    if let Some(reason) = known_skip(file) {
        report.skipped_files.push((file.to_path_buf(), reason));
        return report;
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            report.file_errors.push((file.to_path_buf(), e.to_string()));
            return report;
        }
    };
    let suite: TestSuite = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            report
                .file_errors
                .push((file.to_path_buf(), format!("parse: {e}")));
            return report;
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut inner = StateTestReport::default();
        for (name, unit) in &suite.0 {
            run_unit(file, name, unit, options, &mut inner);
        }
        inner
    }));
    match outcome {
        Ok(inner) => {
            report.forks = inner.forks;
            report.failures = inner.failures;
        }
        Err(_) => report
            .file_errors
            .push((file.to_path_buf(), "panic while executing".to_string())),
    }
    report
}

fn run_unit(
    file: &Path,
    name: &str,
    unit: &TestUnit,
    options: &StateTestOptions,
    report: &mut StateTestReport,
) {
    let base = match pre_state(unit) {
        Ok(base) => base,
        Err(e) => {
            report
                .file_errors
                .push((file.to_path_buf(), format!("{name}: pre-state: {e}")));
            return;
        }
    };
    for (fork, tests) in &unit.post {
        let fork_name = format!("{fork:?}");
        if !options.forks.is_empty() && !options.forks.iter().any(|f| f == &fork_name) {
            continue;
        }
        let tally = report.forks.entry(fork_name.clone()).or_default();
        let Some(spec) = spec_for(fork) else {
            tally.skipped += tests.len();
            continue;
        };
        for (index, test) in tests.iter().enumerate() {
            match run_case(&base, unit, spec, test) {
                Ok(()) => tally.passed += 1,
                Err(reason) => {
                    tally.failed += 1;
                    report.failures.push(CaseFailure {
                        file: file.to_path_buf(),
                        test: name.to_string(),
                        fork: fork_name.clone(),
                        index,
                        reason,
                    });
                }
            }
        }
    }
}

/// The pre-state of a test as a [`MemoryState`].
pub fn pre_state(unit: &TestUnit) -> Result<MemoryState, StorageError> {
    let mut state = MemoryState::default();
    for (address, account) in &unit.pre {
        state.insert_account(
            *address,
            account.nonce,
            account.balance,
            account.code.clone(),
            account.storage.iter().map(|(k, v)| (*k, *v)),
        )?;
    }
    Ok(state)
}

/// Runs one case; `Err` carries the reason of a mismatch.
pub fn run_case(
    base: &MemoryState,
    unit: &TestUnit,
    spec: SpecId,
    test: &Test,
) -> Result<(), String> {
    let mut cfg = CfgEnv::default();
    cfg.set_spec_and_mainnet_gas_params(spec);
    cfg.chain_id = match unit.env.current_chain_id {
        Some(id) => u64::try_from(id).map_err(|_| "chain id overflow".to_string())?,
        None => 1,
    };
    cfg.disable_eip3607 = !spec.is_enabled_in(SpecId::LONDON);
    cfg.max_blobs_per_tx = max_blobs_per_block(spec);
    let block = block_env(unit, &cfg).map_err(|e| e.to_string())?;
    let tx = match tx_env(unit, test, cfg.chain_id) {
        Ok(tx) => tx,
        Err(e) => {
            return match &test.expect_exception {
                Some(_) => Ok(()),
                None => Err(format!("cannot build transaction: {e}")),
            };
        }
    };
    let overlay = StateOverlay::new(base, spec)
        .with_unknown_block_hash(UnknownBlockHash::StateTestConvention);
    let mut executor = TxExecutor::new(overlay, cfg, block, None);
    let result = executor.execute(tx);
    match (result, &test.expect_exception) {
        (Err(EVMError::Database(e)), _) => Err(format!("storage error: {e}")),
        (Err(e), None) => Err(format!("unexpected exception: {e}")),
        (Err(_), Some(_)) => Ok(()),
        (Ok(_), Some(expected)) => Err(format!(
            "expected exception {expected}, transaction succeeded"
        )),
        (Ok(result), None) => {
            let logs_hash = keccak256(alloy_rlp::encode(result.logs().to_vec()));
            let overlay = executor.into_overlay();
            let root = state_root(base, overlay.changes())
                .map_err(|e| e.to_string())?
                .root;
            let mut problems = Vec::new();
            if root != test.hash {
                problems.push(format!("state root {root} != expected {}", test.hash));
            }
            if logs_hash != test.logs {
                problems.push(format!("logs hash {logs_hash} != expected {}", test.logs));
            }
            if problems.is_empty() {
                Ok(())
            } else {
                problems.push(format!(
                    "(tx {}, gas used {})",
                    if result.is_success() {
                        "succeeded"
                    } else {
                        "reverted/halted"
                    },
                    result.tx_gas_used()
                ));
                if std::env::var_os("KALGO_STATETEST_DEBUG").is_some() {
                    problems.push(format!("changes: {:?}", overlay.changes().accounts));
                }
                Err(problems.join("; "))
            }
        }
    }
}

/// Most blobs one transaction may carry: a whole block's blob gas (EIP-4844 / EIP-7691).
pub fn max_blobs_per_block(spec: SpecId) -> Option<u64> {
    if spec.is_enabled_in(SpecId::PRAGUE) {
        Some(9)
    } else if spec.is_enabled_in(SpecId::CANCUN) {
        Some(6)
    } else {
        None
    }
}

fn u64_field(value: U256, name: &'static str) -> Result<u64, CaseError> {
    u64::try_from(value).map_err(|_| CaseError::Overflow(name))
}

fn block_env(unit: &TestUnit, cfg: &CfgEnv) -> Result<BlockEnv, CaseError> {
    let env = &unit.env;
    let mut block = BlockEnv {
        number: env.current_number,
        beneficiary: env.current_coinbase,
        timestamp: env.current_timestamp,
        gas_limit: env.current_gas_limit.saturating_to(),
        basefee: env.current_base_fee.unwrap_or_default().saturating_to(),
        difficulty: env.current_difficulty,
        prevrandao: env.current_random,
        ..Default::default()
    };
    if let Some(excess) = env.current_excess_blob_gas {
        block.set_blob_excess_gas_and_price(
            u64_field(excess, "currentExcessBlobGas")?,
            cfg.blob_base_fee_update_fraction(),
        );
    }
    if cfg.spec.is_enabled_in(SpecId::MERGE) && block.prevrandao.is_none() {
        block.prevrandao = Some(B256::ZERO);
    }
    Ok(block)
}

fn sender(unit: &TestUnit) -> Result<Address, CaseError> {
    if let Some(sender) = unit.transaction.sender {
        return Ok(sender);
    }
    let key = unit
        .transaction
        .secret_key
        .ok_or(CaseError::MissingSecretKey)?;
    revm_statetest_types::recover_address(key.as_slice()).ok_or(CaseError::InvalidSecretKey)
}

fn u128_field(value: U256, name: &'static str) -> Result<u128, CaseError> {
    u128::try_from(value).map_err(|_| CaseError::Overflow(name))
}

/// Builds the revm transaction of one (data, gas, value) index combination.
pub fn tx_env(unit: &TestUnit, test: &Test, chain_id: u64) -> Result<TxEnv, CaseError> {
    let parts = &unit.transaction;
    let idx = &test.indexes;
    let tx_type = parts.tx_type(idx.data).ok_or(CaseError::InvalidTxType)?;
    let data: Bytes = parts
        .data
        .get(idx.data)
        .cloned()
        .ok_or(CaseError::IndexOutOfRange("data"))?;
    let gas_limit = parts
        .gas_limit
        .get(idx.gas)
        .ok_or(CaseError::IndexOutOfRange("gasLimit"))?
        .saturating_to();
    let value = *parts
        .value
        .get(idx.value)
        .ok_or(CaseError::IndexOutOfRange("value"))?;
    let gas_price = parts
        .gas_price
        .or(parts.max_fee_per_gas)
        .unwrap_or_default();
    let tx = TxEnv {
        caller: sender(unit)?,
        gas_price: u128_field(gas_price, "gasPrice")?,
        gas_priority_fee: parts
            .max_priority_fee_per_gas
            .map(|v| u128_field(v, "maxPriorityFeePerGas"))
            .transpose()?,
        blob_hashes: parts.blob_versioned_hashes.clone(),
        max_fee_per_blob_gas: parts
            .max_fee_per_blob_gas
            .map(|v| u128_field(v, "maxFeePerBlobGas"))
            .transpose()?
            .unwrap_or(u128::MAX),
        tx_type: tx_type as u8,
        gas_limit,
        data,
        nonce: u64_field(parts.nonce, "nonce")?,
        chain_id: Some(match parts.chain_id {
            Some(id) => u64_field(id, "chainId")?,
            None => chain_id,
        }),
        value,
        access_list: parts
            .access_lists
            .get(idx.data)
            .cloned()
            .flatten()
            .unwrap_or_default(),
        authorization_list: parts
            .authorization_list
            .clone()
            .map(|list| list.into_iter().map(|a| Either::Left(a.into())).collect())
            .unwrap_or_default(),
        kind: match parts.to {
            Some(to) => TxKind::Call(to),
            None => TxKind::Create,
        },
    };
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_mapping_skips_pre_byzantium() {
        assert_eq!(spec_for(&SpecName::Frontier), None);
        assert_eq!(spec_for(&SpecName::Byzantium), Some(SpecId::BYZANTIUM));
        assert_eq!(
            spec_for(&SpecName::ConstantinopleFix),
            Some(SpecId::PETERSBURG)
        );
        assert_eq!(spec_for(&SpecName::Cancun), Some(SpecId::CANCUN));
    }

    #[test]
    fn missing_path_is_an_error() {
        let missing = PathBuf::from("/nonexistent/kalgo-statetest");
        assert!(collect_json_files(&[missing]).is_err());
    }

    #[test]
    fn malformed_file_is_reported_not_panicking() {
        let dir = std::env::temp_dir().join(format!("kalgo-st-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("bad.json");
        let _ = std::fs::write(&file, "{ not json");
        let report = run_file(&file, &StateTestOptions::default());
        assert_eq!(report.file_errors.len(), 1);
        assert!(!report.is_success());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
