//! `kalgo makeminerkey` (Kaleido §2.1–§2.5): generates a miner's VRF and
//! forward-secure vote keys, writes the key file and prints the `MinerKey` calldata,
//! the details and the genesis storage slots.
//!
//! Differences from Kaleido: `--miner.stakeowner` is required (no zero address),
//! `start`/`lifespan` are checked — and when the data directory holds a chain,
//! `start` must be above its head (a key for heights already passed could never
//! vote; the miner contract further needs `start ≥ registering block + 100`) —,
//! the vote keys also cover the following interval
//! (carry-over, `spec::registration`), the file can be encrypted, and an existing file
//! is never overwritten.

use crate::cmd::account::PasswordError;
use crate::keys::keyfile::{self, KeyFileError, MinerKeyFile};
use actors::execution::miner::{abi::miner_key_calldata, layout::registration_slots};
use alloy_primitives::{Address, B256, hex};
use clap::Args;
use spec::auth::RealMinerKeys;
use spec::crypto::{CryptoError, VoteSigner, VrfProver};
use spec::registration::{
    DEFAULT_LIFESPAN, MAX_LIFESPAN, Registration, RegistrationError, key_end,
};
use spec::types::MinerId;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Kaleido's interval size (mainnet and testnet).
pub const DEFAULT_INTERVAL: u64 = 1_000_000;
/// Kaleido's mainnet chain id.
pub const DEFAULT_CHAIN_ID: u64 = 888;

/// Flags of `makeminerkey` (Kaleido's names).
#[derive(Args, Debug)]
pub struct MakeMinerKeyArgs {
    /// The stake owner: the address that will send the `set` transaction (required).
    #[arg(long = "miner.stakeowner", value_name = "ADDR")]
    pub stake_owner: Option<String>,
    /// Reward address (default: the stake owner).
    #[arg(long = "minerkey.coinbase", value_name = "ADDR")]
    pub coinbase: Option<String>,
    /// First height the key may vote at (≥ 1).
    #[arg(long = "minerkey.start", value_name = "S")]
    pub start: Option<u64>,
    /// Heights per forward-secure sub-key (1..=100).
    #[arg(long = "minerkey.lifespan", value_name = "L", default_value_t = DEFAULT_LIFESPAN)]
    pub lifespan: u64,
    /// Registration interval size (must match the chain's `intervalSize`).
    #[arg(long = "minerkey.interval", value_name = "I", default_value_t = DEFAULT_INTERVAL)]
    pub interval: u64,
    /// Chain id the vote keys are bound to.
    #[arg(long = "chainid", value_name = "ID", default_value_t = DEFAULT_CHAIN_ID)]
    pub chain_id: u64,
    /// File whose first line is the password that encrypts the key file.
    #[arg(long = "password", value_name = "FILE")]
    pub password: Option<PathBuf>,
}

/// Why `makeminerkey` failed (one line each).
#[derive(Debug, thiserror::Error)]
pub enum MakeKeyError {
    /// A flag is missing or invalid.
    #[error("{0}")]
    Usage(String),
    /// The password file could not be read.
    #[error("{0}")]
    Password(#[from] PasswordError),
    /// `--minerkey.start` and `--minerkey.interval` give no key range (a zero
    /// interval; the flag is checked first, so seeing this is a bug).
    #[error("key generation failed: {0}")]
    Interval(#[from] RegistrationError),
    /// Generating the VRF or vote keys failed (the random source or the
    /// key-set parameters; `--minerkey.lifespan` is checked before).
    #[error("key generation failed: {0}")]
    Keygen(#[from] CryptoError),
    /// The key file could not be written or read.
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// `--minerkey.start` is not above the chain head of the data directory.
    #[error(
        "--minerkey.start {start} is not after the chain head {head} of this data directory: use a future height (the miner contract needs start ≥ the registering block + 100)"
    )]
    StartPassed {
        /// The requested start.
        start: u64,
        /// The head.
        head: u64,
    },
    /// A key file for this miner and interval exists; it was printed, not replaced.
    #[error("MinerKey already exists: {0} (not overwritten)")]
    Exists(PathBuf),
}

/// Parses an address; mixed case must be a valid EIP-55 checksum; zero is refused.
pub fn parse_address(flag: &str, s: &str) -> Result<Address, MakeKeyError> {
    let t = s.trim();
    let body = t.strip_prefix("0x").unwrap_or(t);
    let mixed = body.chars().any(|c| c.is_ascii_uppercase())
        && body.chars().any(|c| c.is_ascii_lowercase());
    let parsed = if mixed {
        Address::parse_checksummed(format!("0x{body}"), None).ok()
    } else {
        body.parse::<Address>().ok()
    };
    match parsed {
        Some(a) if a != Address::ZERO => Ok(a),
        Some(_) => Err(MakeKeyError::Usage(format!(
            "{flag}: the zero address cannot be used"
        ))),
        None => Err(MakeKeyError::Usage(format!(
            "{flag}: invalid address {s:?} (20-byte hex, EIP-55 if mixed case)"
        ))),
    }
}

/// Reads the first line of a password file.
pub fn read_password(path: &Path) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let text = Zeroizing::new(std::fs::read(path).map_err(|source| PasswordError::Read {
        path: path.to_path_buf(),
        source,
    })?);
    let line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(PasswordError::Empty(path.to_path_buf()));
    }
    Ok(Zeroizing::new(line.to_vec()))
}

/// The registration a key file describes.
pub fn registration_of(k: &MinerKeyFile) -> Registration {
    Registration {
        start: k.start,
        lifespan: u32::try_from(k.lifespan).unwrap_or(u32::MAX),
        coinbase: k.coinbase.0.0,
        vrf_pk: k.keys.vrf.vrf_public(),
        vote_pk: k.keys.votes.master_public(),
    }
}

/// Kaleido's output layout (§2.1): `MinerKey:`, `Details:`, `GenesisStorage:`
/// (the latter when `start == 1`, as in Kaleido).
pub fn render(k: &MinerKeyFile, path: &Path) -> String {
    let reg = registration_of(k);
    let mut out = format!("MinerKey: {}\n", miner_key_calldata(&reg));
    out += "Details:\n";
    out += &format!("  miner: {}\n", k.miner.to_checksum(None));
    out += &format!("  coinbase: {}\n", k.coinbase.to_checksum(None));
    out += &format!(
        "  start: {}\n  end: {}\n  lifespan: {}\n",
        k.start,
        k.interval_end(),
        k.lifespan
    );
    out += &format!(
        "  vrfVerifier: 0x{}\n  voteVerifier: 0x{}\n",
        hex::encode(reg.vrf_pk),
        hex::encode(reg.vote_pk)
    );
    if k.start == 1 {
        out += "GenesisStorage:\n";
        for (slot, value) in registration_slots(k.miner, &reg, k.interval) {
            out += &format!("  {} = {}\n", B256::from(slot), B256::from(value));
        }
    }
    out += &format!("KeyFile: {}\n", path.display());
    out
}

/// The head of the chain in `datadir`, if it is initialised and readable. A node
/// running on it holds the store open: then the head is not known here and the
/// start is not checked (a note says so).
fn chain_head(datadir: &Path) -> Option<u64> {
    let path = datadir.join("kalgo").join("chaindata.redb");
    if !path.exists() {
        return None;
    }
    let head = actors::storage::Store::open(&path).and_then(|s| s.head());
    match head {
        Ok(head) => head.map(|h| h.number),
        Err(e) => {
            eprintln!(
                "note: --minerkey.start not checked against the chain head ({}: {e}; is the node running?)",
                path.display()
            );
            None
        }
    }
}

/// Runs the command; returns what to print on success.
pub fn run(datadir: &Path, args: &MakeMinerKeyArgs) -> Result<String, (String, MakeKeyError)> {
    let fail = |e| (String::new(), e);
    let owner = args
        .stake_owner
        .as_deref()
        .ok_or_else(|| {
            MakeKeyError::Usage(
                "--miner.stakeowner ADDR is required (the address that owns the stake)".into(),
            )
        })
        .and_then(|s| parse_address("--miner.stakeowner", s))
        .map_err(fail)?;
    let coinbase = match &args.coinbase {
        Some(c) => parse_address("--minerkey.coinbase", c).map_err(fail)?,
        None => owner,
    };
    let start = match args.start {
        None => {
            return Err(fail(MakeKeyError::Usage(
                "--minerkey.start S is required (S ≥ 1)".into(),
            )));
        }
        Some(0) => {
            return Err(fail(MakeKeyError::Usage(
                "--minerkey.start must be at least 1".into(),
            )));
        }
        Some(s) => s,
    };
    if args.lifespan == 0 || args.lifespan > MAX_LIFESPAN {
        return Err(fail(MakeKeyError::Usage(format!(
            "--minerkey.lifespan must be between 1 and {MAX_LIFESPAN}, got {}",
            args.lifespan
        ))));
    }
    if args.interval == 0 {
        return Err(fail(MakeKeyError::Usage(
            "--minerkey.interval must be positive".into(),
        )));
    }
    let password = args
        .password
        .as_deref()
        .map(read_password)
        .transpose()
        .map_err(|e| fail(e.into()))?;
    let pw = password.as_ref().map(|p| p.as_slice());
    if let Some(head) = chain_head(datadir)
        && start <= head
    {
        return Err(fail(MakeKeyError::StartPassed { start, head }));
    }
    let begin = start / args.interval * args.interval;
    let path = keyfile::key_path(datadir, &owner, begin, begin.saturating_add(args.interval));
    if path.exists() {
        let shown = keyfile::read_key_file(&path, pw)
            .map(|k| render(&k, &path))
            .unwrap_or_default();
        return Err((shown, MakeKeyError::Exists(path)));
    }
    let dir = keyfile::key_dir(datadir);
    std::fs::create_dir_all(&dir).map_err(|source| {
        fail(
            KeyFileError::Io {
                path: dir.clone(),
                source,
            }
            .into(),
        )
    })?;
    let end = key_end(start, args.interval).map_err(|e| fail(e.into()))?;
    let keys = RealMinerKeys::generate(
        &mut rand_core::OsRng,
        MinerId(owner.0.0),
        args.chain_id,
        start,
        end,
        args.lifespan,
    )
    .map_err(|e| fail(e.into()))?;
    let file = MinerKeyFile {
        miner: owner,
        coinbase,
        start,
        key_end: end,
        lifespan: args.lifespan,
        interval: args.interval,
        keys,
    };
    let bytes = file.encode(pw).map_err(|e| fail(e.into()))?;
    keyfile::write_atomic(&path, &bytes, false).map_err(|e| fail(e.into()))?;
    Ok(render(&file, &path))
}
