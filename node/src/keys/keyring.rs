//! The running miner's keys (Kaleido §2.2 "forward security in operation", §2.3):
//! every key file of the stake owner in `D/kalgo/minerkeys`, one per registration
//! interval (`<EIP-55 owner>-<begin>-<end>.bin`, written by `kalgo makeminerkey`).
//!
//! - At start, every file of the owner is loaded (a wrong password, a corrupt file
//!   or a key made for another chain is a one-line error); at least one must still
//!   cover a future height.
//! - On every committed head `H` ([`KeySource::advance`]): files added since (the
//!   key for the next interval, made while the node runs) are loaded; each key's
//!   sub-keys for offsets below `H / lifespan` — heights already passed — are
//!   erased from memory and the file is rewritten without them (atomically,
//!   re-encrypted when a password is used); a key that cannot sign above `H` any
//!   more is erased entirely and dropped.
//! - At height `h` the host signs with the loaded key that covers `h` and whose
//!   public keys are the registration in force at `h` (so at an interval boundary
//!   it switches to the next interval's key exactly when the registry does, and
//!   keeps the previous one while it is carried over).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actors::consensus::keys::{KeySource, KeySourceError, can_sign, matches};
use alloy_primitives::Address;
use spec::auth::{MinerRecord, RealMinerKeys};
use spec::params::Params;
use spec::types::{Height, MinerId};
use zeroize::Zeroizing;

use crate::keys::keyfile::{self, KeyFileError, MinerKeyFile};

/// Why the miner keys could not be loaded at start.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// No key file of the owner.
    #[error(
        "--mine: no miner key for {owner} in {dir}; create one with `kalgo --datadir {datadir} makeminerkey --miner.stakeowner {owner} --minerkey.start S` and register it"
    )]
    NoKey {
        /// The stake owner.
        owner: String,
        /// The key folder.
        dir: PathBuf,
        /// The data directory.
        datadir: PathBuf,
    },
    /// Every key of the owner ends at or before the head.
    #[error(
        "--mine: every miner key of {owner} has expired (the chain is at height {head}); make one for a later start"
    )]
    Expired {
        /// The stake owner.
        owner: String,
        /// The head.
        head: Height,
    },
    /// A key file does not read (wrong password, corrupt, …).
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// A key file was made for another chain or miner.
    #[error("{0}: {1}")]
    Mismatch(PathBuf, String),
}

/// What the chain requires of a key.
#[derive(Clone, Copy, Debug)]
pub struct ChainKeyParams {
    /// Chain id the sub-key certificates must bind.
    pub chain_id: u64,
    /// Heights per sub-key (`config.algorand.lifespan`).
    pub lifespan: u64,
    /// Heights per registration interval (`config.algorand.intervalSize`).
    pub interval: u64,
}

impl From<&Params> for ChainKeyParams {
    fn from(p: &Params) -> Self {
        Self {
            chain_id: p.chain_id,
            lifespan: p.lifespan,
            interval: p.interval_size,
        }
    }
}

struct Loaded {
    path: PathBuf,
    file: MinerKeyFile,
}

/// The key files of one stake owner (module docs).
pub struct KeyRing {
    datadir: PathBuf,
    owner: Address,
    password: Option<Zeroizing<Vec<u8>>>,
    chain: ChainKeyParams,
    loaded: Vec<Loaded>,
    tried: BTreeSet<PathBuf>,
}

/// The owner and interval a key file name stands for, if it is one.
fn parse_name(path: &Path) -> Option<(Address, u64, u64)> {
    if path.extension()? != "bin" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let mut parts = stem.split('-');
    let owner = parts.next()?.parse::<Address>().ok()?;
    let begin = parts.next()?.parse().ok()?;
    let end = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((owner, begin, end))
}

impl KeyRing {
    /// Loads every key file of `owner` under `datadir` and advances them to the
    /// committed `head` (see the module docs for the errors).
    pub fn open(
        datadir: &Path,
        owner: Address,
        password: Option<Zeroizing<Vec<u8>>>,
        chain: ChainKeyParams,
        head: Height,
    ) -> Result<Self, KeyRingError> {
        let mut ring = KeyRing {
            datadir: datadir.to_path_buf(),
            owner,
            password,
            chain,
            loaded: Vec::new(),
            tried: BTreeSet::new(),
        };
        for path in ring.new_files() {
            let file = ring.load(&path)?;
            ring.loaded.push(Loaded { path, file });
        }
        if ring.loaded.is_empty() {
            return Err(KeyRingError::NoKey {
                owner: owner.to_checksum(None),
                dir: keyfile::key_dir(datadir),
                datadir: datadir.to_path_buf(),
            });
        }
        ring.erase_passed(head)?;
        if ring.loaded.is_empty() {
            return Err(KeyRingError::Expired {
                owner: owner.to_checksum(None),
                head,
            });
        }
        for l in &ring.loaded {
            tracing::info!(
                file = %l.path.display(),
                start = l.file.start,
                end = l.file.key_end,
                first_sub_key = l.file.keys.votes.first_offset(),
                "miner key loaded"
            );
        }
        Ok(ring)
    }

    /// Key files of the owner not looked at yet, in name order.
    fn new_files(&mut self) -> Vec<PathBuf> {
        let dir = keyfile::key_dir(&self.datadir);
        let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| parse_name(p).is_some_and(|(o, _, _)| o == self.owner))
            .filter(|p| !self.tried.contains(p))
            .collect();
        out.sort();
        self.tried.extend(out.iter().cloned());
        out
    }

    fn load(&self, path: &Path) -> Result<MinerKeyFile, KeyRingError> {
        let file = keyfile::read_key_file(path, self.password.as_ref().map(|p| p.as_slice()))?;
        let mismatch = |what: String| KeyRingError::Mismatch(path.to_path_buf(), what);
        let c = &self.chain;
        if file.miner != self.owner {
            return Err(mismatch(format!(
                "key of miner {}, not of {}",
                file.miner.to_checksum(None),
                self.owner.to_checksum(None)
            )));
        }
        if file.keys.votes.chain_id() != c.chain_id {
            return Err(mismatch(format!(
                "key made for chain id {}, this chain is {} (makeminerkey --chainid)",
                file.keys.votes.chain_id(),
                c.chain_id
            )));
        }
        if file.lifespan != c.lifespan || file.interval != c.interval {
            return Err(mismatch(format!(
                "key lifespan {} and interval {}, this chain uses lifespan {} and interval {}",
                file.lifespan, file.interval, c.lifespan, c.interval
            )));
        }
        Ok(file)
    }

    /// Forward security at committed head `head` (module docs). Every file is
    /// handled; the first failure is returned.
    fn erase_passed(&mut self, head: Height) -> Result<(), KeyFileError> {
        let password = self.password.as_ref().map(|p| p.as_slice());
        let mut first_error = None;
        for l in &mut self.loaded {
            let votes = &mut l.file.keys.votes;
            let before = (votes.first_offset(), votes.end_offset());
            if l.file.key_end <= head.saturating_add(1) {
                // Cannot sign above the head any more: erase everything.
                votes.erase_before(votes.end_offset());
            } else if let Some(offset) = head.checked_div(l.file.lifespan) {
                votes.erase_before(offset);
            }
            if (votes.first_offset(), votes.end_offset()) == before {
                continue;
            }
            let written = l
                .file
                .encode(password)
                .and_then(|bytes| keyfile::write_atomic(&l.path, &bytes, true));
            match written {
                Ok(()) => tracing::info!(
                    file = %l.path.display(),
                    head,
                    first_sub_key = l.file.keys.votes.first_offset(),
                    "erased the vote sub-keys of passed heights"
                ),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.loaded
            .retain(|l| l.file.key_end > head.saturating_add(1));
        first_error.map_or(Ok(()), Err)
    }

    /// The loaded keys (start, end, first remaining sub-key offset), for tests.
    #[cfg(test)]
    fn summary(&self) -> Vec<(u64, u64, u64)> {
        self.loaded
            .iter()
            .map(|l| {
                (
                    l.file.start,
                    l.file.key_end,
                    l.file.keys.votes.first_offset(),
                )
            })
            .collect()
    }
}

impl KeySource for KeyRing {
    fn id(&self) -> MinerId {
        MinerId(self.owner.0.0)
    }

    fn advance(&mut self, head: Height) -> Result<(), KeySourceError> {
        // A key made while the node runs (the next interval's) is picked up here;
        // a bad one is reported and skipped, never retried.
        for path in self.new_files() {
            match self.load(&path) {
                Ok(file) => {
                    tracing::info!(file = %path.display(), start = file.start, "miner key loaded");
                    self.loaded.push(Loaded { path, file });
                }
                Err(e) => tracing::error!(error = %e, "miner key file skipped"),
            }
        }
        self.erase_passed(head)
            .map_err(|e| KeySourceError(e.to_string()))
    }

    fn keys_for(&self, height: Height, record: &MinerRecord) -> Option<&RealMinerKeys> {
        self.loaded
            .iter()
            .map(|l| &l.file)
            .filter(|f| f.start <= height && height < f.key_end)
            .filter(|f| can_sign(&f.keys, height, f.lifespan))
            .map(|f| &f.keys)
            .find(|k| matches(k, record))
    }

    fn key_spans(&self) -> Vec<(Height, Height)> {
        self.loaded
            .iter()
            .map(|l| (l.file.start, l.file.key_end))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use spec::crypto::{CryptoError, SignedMessage, VoteSigner};
    use spec::types::{Step, Value};

    const CHAIN: ChainKeyParams = ChainKeyParams {
        chain_id: 7,
        lifespan: 10,
        interval: 100,
    };

    fn owner() -> Address {
        Address::repeat_byte(0x42)
    }

    /// Writes a key file for `start` (as `makeminerkey` does) and returns its path.
    fn make(datadir: &Path, start: u64, seed: u8, pw: Option<&[u8]>) -> PathBuf {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
        let end = spec::registration::key_end(start, CHAIN.interval).unwrap_or_default();
        let keys = RealMinerKeys::generate(
            &mut rng,
            MinerId(owner().0.0),
            CHAIN.chain_id,
            start,
            end,
            CHAIN.lifespan,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let file = MinerKeyFile {
            miner: owner(),
            coinbase: owner(),
            start,
            key_end: end,
            lifespan: CHAIN.lifespan,
            interval: CHAIN.interval,
            keys,
        };
        std::fs::create_dir_all(keyfile::key_dir(datadir)).unwrap_or_else(|e| panic!("{e}"));
        let path = keyfile::key_path(
            datadir,
            &owner(),
            file.interval_begin(),
            file.interval_end(),
        );
        let bytes = file.encode(pw).unwrap_or_else(|e| panic!("{e}"));
        keyfile::write_atomic(&path, &bytes, false).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn record_of(path: &Path, pw: Option<&[u8]>) -> MinerRecord {
        let f = keyfile::read_key_file(path, pw).unwrap_or_else(|e| panic!("{e}"));
        f.keys.record(1)
    }

    fn msg(height: u64) -> SignedMessage {
        SignedMessage {
            chain_id: CHAIN.chain_id,
            height,
            round: 1,
            step: Step(2),
            value: Value([1; 32]),
        }
    }

    #[test]
    fn missing_key_wrong_password_and_wrong_chain_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = KeyRing::open(dir.path(), owner(), None, CHAIN, 0).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("no miner key for 0x4242"), "{text}");
        assert!(text.contains("makeminerkey"), "{text}");
        make(dir.path(), 1, 1, Some(b"secret"));
        let wrong = Some(Zeroizing::new(b"nope".to_vec()));
        let err = KeyRing::open(dir.path(), owner(), wrong, CHAIN, 0).err();
        assert!(matches!(
            err,
            Some(KeyRingError::File(KeyFileError::WrongPassword(_)))
        ));
        let other = ChainKeyParams {
            chain_id: 8,
            ..CHAIN
        };
        let right = Some(Zeroizing::new(b"secret".to_vec()));
        let err = KeyRing::open(dir.path(), owner(), right.clone(), other, 0).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("chain id 7, this chain is 8"), "{text}");
        // Expired: the key covers heights below 200 only.
        let err = KeyRing::open(dir.path(), owner(), right, CHAIN, 199).err();
        assert!(matches!(err, Some(KeyRingError::Expired { head: 199, .. })));
    }

    #[test]
    fn switches_keys_at_the_interval_boundary_and_erases_passed_sub_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = make(dir.path(), 1, 1, None);
        let rec0 = record_of(&first, None);
        let mut ring =
            KeyRing::open(dir.path(), owner(), None, CHAIN, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.summary(), vec![(1, 200, 0)]);
        // The next interval's key is made while the node runs: picked up on advance.
        let second = make(dir.path(), 100, 2, None);
        let rec1 = record_of(&second, None);
        ring.advance(57).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.summary(), vec![(1, 200, 5), (100, 300, 10)]);
        // Before the second registration starts only the first key signs.
        assert!(ring.keys_for(58, &rec0).is_some());
        assert!(ring.keys_for(58, &rec1).is_none());
        // From 100 the registry holds the second registration: its key is used;
        // the first is still there for a carried-over registration.
        ring.advance(99).unwrap_or_else(|e| panic!("{e}"));
        let k1 = ring.keys_for(100, &rec1).map(|k| k.votes.master_public());
        assert_eq!(k1, Some(rec1.vote_master_pk));
        assert!(ring.keys_for(100, &rec0).is_some());
        // A height whose sub-key is already erased (offset 5 < 9) gets no key.
        assert!(ring.keys_for(57, &rec0).is_none());
        // Past sub-keys are gone from the file read back, and cannot sign.
        let back = keyfile::read_key_file(&first, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.keys.votes.first_offset(), 9);
        assert!(matches!(
            back.keys.votes.sign(5, &msg(57)),
            Err(CryptoError::SubKeyErased(5))
        ));
        assert!(back.keys.votes.sign(9, &msg(99)).is_ok());
        // The first key ends at 200 (its interval and the carry-over one): at head
        // 199 it is erased entirely and dropped; the second goes on.
        ring.advance(199).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ring.summary(), vec![(100, 300, 19)]);
        let f = keyfile::read_key_file(&first, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.keys.votes.first_offset(), f.keys.votes.end_offset());
        ring.advance(299).unwrap_or_else(|e| panic!("{e}"));
        assert!(ring.summary().is_empty());
        let f = keyfile::read_key_file(&second, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.keys.votes.first_offset(), f.keys.votes.end_offset());
    }
}
