//! Miner key files (Kaleido §2.3, with W3 fixed): one file per miner and interval at
//! `<datadir>/kalgo/minerkeys/<EIP-55 miner>-<intervalBegin>-<intervalEnd>.bin`,
//! mode 0600, written atomically (temp file, fsync, rename, fsync of the directory),
//! optionally encrypted with a password (scrypt → ChaCha20-Poly1305), and rewritten
//! without the sub-keys of past heights as the chain advances ([`update_key_file`]).
//!
//! Format (our own; Kaleido's RLP layout is not kept, see `ARCHITECTURE.md`):
//! `"kalgoMK1" ‖ kind` then, for kind 0, the payload; for kind 1,
//! `salt(16) ‖ log_n(1) ‖ r(BE32) ‖ p(BE32) ‖ nonce(12) ‖ AEAD(payload)` with the
//! header as associated data. Payload: `miner(20) ‖ coinbase(20) ‖ BE64 start ‖
//! BE64 key_end ‖ BE64 lifespan ‖ BE64 interval ‖ VRF key(96) ‖ FsKeySet bytes`.

use alloy_primitives::Address;
use chacha20poly1305::{
    ChaCha20Poly1305, Key, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use rand_core::{OsRng, RngCore};
use spec::auth::RealMinerKeys;
use spec::crypto::CryptoError;
use spec::crypto::real::{FsKeySet, SchnorrkelVrfKey};
use spec::types::MinerId;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"kalgoMK1";
const PLAIN: u8 = 0;
const SCRYPT_CHACHA: u8 = 1;
const FIXED: usize = 20 + 20 + 8 * 4 + SchnorrkelVrfKey::BYTES;
const ENC_HEADER: usize = 9 + 16 + 1 + 4 + 4 + 12;
/// Largest key file read (Kaleido's `MaxMinerKeySize`, 200 MiB).
pub const MAX_KEY_FILE: u64 = 200 << 20;
/// scrypt cost of new files: N = 2^15, r = 8, p = 1 (32 MiB).
pub const SCRYPT_LOG_N: u8 = 15;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a kalgo miner key file, or is corrupt.
    #[error("{0}: not a valid miner key file ({1})")]
    Format(PathBuf, &'static str),
    /// The file is encrypted and no password was given.
    #[error("{0}: the key file is encrypted; pass --password FILE")]
    PasswordRequired(PathBuf),
    /// Decryption failed.
    #[error("{0}: wrong password (or the file was tampered with)")]
    WrongPassword(PathBuf),
    /// The keys inside do not decode.
    #[error("{0}: {1}")]
    Key(PathBuf, CryptoError),
    /// The file exceeds [`MAX_KEY_FILE`].
    #[error("{0}: key file larger than 200 MiB")]
    TooLarge(PathBuf),
}

/// The contents of a key file.
pub struct MinerKeyFile {
    /// Stake owner (the miner identity).
    pub miner: Address,
    /// Where this miner's block rewards are paid (its registration's coinbase).
    pub coinbase: Address,
    /// First height the keys may sign at (the registration's `start`).
    pub start: u64,
    /// One past the last height the vote keys cover (end of the next interval).
    pub key_end: u64,
    /// Heights per sub-key.
    pub lifespan: u64,
    /// Interval size the file is named by.
    pub interval: u64,
    /// The VRF and forward-secure vote keys (`keys.id` is `miner`).
    pub keys: RealMinerKeys,
}

impl MinerKeyFile {
    /// First height of the registration interval.
    pub fn interval_begin(&self) -> u64 {
        self.start.checked_div(self.interval).unwrap_or_default() * self.interval
    }

    /// End of the registration interval (`(start/I + 1)·I`, Kaleido's `end`).
    pub fn interval_end(&self) -> u64 {
        self.interval_begin().saturating_add(self.interval)
    }

    fn payload(&self) -> Zeroizing<Vec<u8>> {
        let fs = self.keys.votes.to_bytes();
        let mut p = Zeroizing::new(Vec::with_capacity(FIXED + fs.len()));
        p.extend_from_slice(self.miner.as_slice());
        p.extend_from_slice(self.coinbase.as_slice());
        for v in [self.start, self.key_end, self.lifespan, self.interval] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(self.keys.vrf.to_bytes().as_ref());
        p.extend_from_slice(&fs);
        p
    }

    fn from_payload(path: &Path, p: &[u8]) -> Result<Self, KeyFileError> {
        let bad = |why| KeyFileError::Format(path.to_path_buf(), why);
        if p.len() < FIXED {
            return Err(bad("truncated"));
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&p[40 + 8 * i..48 + 8 * i]);
            u64::from_be_bytes(b)
        };
        let key = |e| KeyFileError::Key(path.to_path_buf(), e);
        let miner = Address::from_slice(&p[..20]);
        Ok(Self {
            miner,
            coinbase: Address::from_slice(&p[20..40]),
            start: word(0),
            key_end: word(1),
            lifespan: word(2),
            interval: word(3),
            keys: RealMinerKeys {
                id: MinerId(miner.0.0),
                vrf: SchnorrkelVrfKey::from_bytes(&p[72..FIXED]).map_err(key)?,
                votes: FsKeySet::from_bytes(&p[FIXED..]).map_err(key)?,
            },
        })
    }

    /// The file's bytes, encrypted when `password` is given.
    pub fn encode(&self, password: Option<&[u8]>) -> Result<Vec<u8>, KeyFileError> {
        let payload = self.payload();
        let Some(password) = password else {
            let mut out = MAGIC.to_vec();
            out.push(PLAIN);
            out.extend_from_slice(&payload);
            return Ok(out);
        };
        let mut header = MAGIC.to_vec();
        header.push(SCRYPT_CHACHA);
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        header.extend_from_slice(&salt);
        header.push(SCRYPT_LOG_N);
        header.extend_from_slice(&8u32.to_be_bytes());
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(&nonce);
        let key = derive(password, &salt, SCRYPT_LOG_N, 8, 1).ok_or(KeyFileError::Format(
            PathBuf::new(),
            "bad scrypt parameters",
        ))?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &payload,
                    aad: &header,
                },
            )
            .map_err(|_| KeyFileError::Format(PathBuf::new(), "encryption failed"))?;
        header.extend_from_slice(&ct);
        Ok(header)
    }

    /// Decodes a file's bytes (`path` only names it in errors).
    pub fn decode(
        path: &Path,
        bytes: &[u8],
        password: Option<&[u8]>,
    ) -> Result<Self, KeyFileError> {
        let bad = |why| KeyFileError::Format(path.to_path_buf(), why);
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(bad("bad magic"));
        }
        match bytes.get(8) {
            Some(&PLAIN) => Self::from_payload(path, &bytes[9..]),
            Some(&SCRYPT_CHACHA) => {
                let password =
                    password.ok_or_else(|| KeyFileError::PasswordRequired(path.to_path_buf()))?;
                let header = bytes.get(..ENC_HEADER).ok_or(bad("truncated header"))?;
                let salt = &header[9..25];
                let log_n = header[25];
                let be32 = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
                let (r, p) = (be32(&header[26..30]), be32(&header[30..34]));
                if log_n > 20 || r > 16 || p > 4 {
                    return Err(bad("scrypt parameters out of range"));
                }
                let key =
                    derive(password, salt, log_n, r, p).ok_or(bad("bad scrypt parameters"))?;
                let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
                let plain = cipher
                    .decrypt(
                        Nonce::from_slice(&header[34..46]),
                        Payload {
                            msg: &bytes[ENC_HEADER..],
                            aad: header,
                        },
                    )
                    .map_err(|_| KeyFileError::WrongPassword(path.to_path_buf()))?;
                let plain = Zeroizing::new(plain);
                Self::from_payload(path, &plain)
            }
            _ => Err(bad("unknown kind")),
        }
    }
}

fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Option<Zeroizing<[u8; 32]>> {
    let params = scrypt::Params::new(log_n, r, p, 32).ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut()).ok()?;
    Some(key)
}

/// `<datadir>/kalgo/minerkeys` (Kaleido §2.3).
pub fn key_dir(datadir: &Path) -> PathBuf {
    datadir.join("kalgo").join("minerkeys")
}

/// `<dir>/<EIP-55 miner>-<intervalBegin>-<intervalEnd>.bin`.
pub fn key_path(datadir: &Path, miner: &Address, begin: u64, end: u64) -> PathBuf {
    key_dir(datadir).join(format!("{}-{begin}-{end}.bin", miner.to_checksum(None)))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and decodes a key file (bounded by [`MAX_KEY_FILE`]).
pub fn read_key_file(path: &Path, password: Option<&[u8]>) -> Result<MinerKeyFile, KeyFileError> {
    let len = fs::metadata(path).map_err(io(path))?.len();
    if len > MAX_KEY_FILE {
        return Err(KeyFileError::TooLarge(path.to_path_buf()));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io(path))?);
    MinerKeyFile::decode(path, &bytes, password)
}

/// Writes `bytes` to `path` atomically with mode 0600: a temporary file in the same
/// directory, `fsync`, then `rename` (`replace`) or `link` (never replaces an existing
/// file, even under a race), then `fsync` of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> Result<(), KeyFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("key");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        if replace {
            fs::rename(&tmp, path).map_err(io(path))?;
        } else {
            fs::hard_link(&tmp, path).map_err(io(path))?;
            fs::remove_file(&tmp).map_err(io(&tmp))?;
        }
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Forward security as the chain advances (Kaleido §2.2 `Update`, done safely):
/// erases every sub-key for offsets below `head_height / lifespan` and, if any was
/// erased, rewrites the file atomically (re-encrypted with a fresh salt and nonce
/// when `password` is given). Returns whether the file changed.
pub fn update_key_file(
    path: &Path,
    head_height: u64,
    password: Option<&[u8]>,
) -> Result<bool, KeyFileError> {
    let mut key = read_key_file(path, password)?;
    let before = key.keys.votes.first_offset();
    let offset = head_height.checked_div(key.lifespan).unwrap_or_default();
    key.keys.votes.erase_before(offset);
    if key.keys.votes.first_offset() == before {
        return Ok(false);
    }
    write_atomic(path, &key.encode(password)?, true)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use spec::crypto::{SignedMessage, VoteSigner};
    use spec::types::{Step, Value};

    fn sample() -> MinerKeyFile {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
        let vrf = SchnorrkelVrfKey::generate(&mut rng).unwrap_or_else(|e| panic!("{e}"));
        let votes = FsKeySet::generate_for_heights(&mut rng, 7, 1, 2000, 100)
            .unwrap_or_else(|e| panic!("{e}"));
        MinerKeyFile {
            miner: Address::repeat_byte(1),
            coinbase: Address::repeat_byte(2),
            start: 1,
            key_end: 2000,
            lifespan: 100,
            interval: 1000,
            keys: RealMinerKeys {
                id: MinerId([1; 20]),
                vrf,
                votes,
            },
        }
    }

    fn msg(height: u64) -> SignedMessage {
        SignedMessage {
            chain_id: 7,
            height,
            round: 1,
            step: Step(2),
            value: Value([1; 32]),
        }
    }

    #[test]
    fn round_trip_plain_and_encrypted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let k = sample();
        let path = key_path(dir.path(), &k.miner, k.interval_begin(), k.interval_end());
        assert!(path.ends_with("0x0101010101010101010101010101010101010101-0-1000.bin"));
        fs::create_dir_all(key_dir(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        for password in [None, Some(&b"correct horse"[..])] {
            write_atomic(
                &path,
                &k.encode(password).unwrap_or_else(|e| panic!("{e}")),
                true,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let mode = fs::metadata(&path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
            assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600));
            let back = read_key_file(&path, password).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(back.payload().as_slice(), k.payload().as_slice());
        }
        // Encrypted: no password, wrong password → clear errors.
        assert!(matches!(
            read_key_file(&path, None),
            Err(KeyFileError::PasswordRequired(_))
        ));
        let wrong = read_key_file(&path, Some(b"wrong"));
        assert!(matches!(wrong, Err(KeyFileError::WrongPassword(_))));
        assert!(
            wrong
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("wrong password")
        );
        // Ciphertext does not contain the VRF secret in the clear.
        let raw = fs::read(&path).unwrap_or_default();
        let secret = k.keys.vrf.to_bytes();
        assert!(!raw.windows(32).any(|w| w == &secret[..32]));
        // Garbage is refused without panicking.
        assert!(MinerKeyFile::decode(&path, b"kalgoMK1\x00abc", None).is_err());
        assert!(MinerKeyFile::decode(&path, b"nope", None).is_err());
        assert!(MinerKeyFile::decode(&path, b"kalgoMK1\x01", Some(b"x")).is_err());
    }

    #[test]
    fn update_erases_past_sub_keys_from_the_file() {
        update_erases(None);
        update_erases(Some(&b"pw"[..]));
    }

    fn update_erases(pw: Option<&[u8]>) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let k = sample();
        let path = dir.path().join("k.bin");
        write_atomic(
            &path,
            &k.encode(pw).unwrap_or_else(|e| panic!("{e}")),
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let size0 = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // Before the update the key signs for height 150 (offset 1).
        assert!(k.keys.votes.sign(1, &msg(150)).is_ok());
        assert!(matches!(update_key_file(&path, 1050, pw), Ok(true)));
        assert!(
            matches!(update_key_file(&path, 1099, pw), Ok(false)),
            "same offset: no rewrite"
        );
        let after = read_key_file(&path, pw).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.keys.votes.first_offset(), 10);
        // A past height cannot be signed any more; the current one can.
        assert!(matches!(
            after.keys.votes.sign(1, &msg(150)),
            Err(CryptoError::SubKeyErased(1))
        ));
        assert!(after.keys.votes.sign(10, &msg(1050)).is_ok());
        // The erased sub-keys are gone from the file (10 × 96 bytes smaller).
        let size1 = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size0 - size1, 10 * 96);
        let old_secret = &k.keys.votes.to_bytes()[60..92];
        let plain = after.encode(None).unwrap_or_default();
        assert!(!plain.windows(32).any(|w| w == old_secret));
        if pw.is_none() {
            let raw = fs::read(&path).unwrap_or_default();
            assert!(
                raw.windows(32)
                    .any(|w| w == &after.keys.votes.to_bytes()[60..92])
            );
            assert!(
                !raw.windows(32).any(|w| w == old_secret),
                "erased sub-key gone from the file"
            );
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }
}
