//! `kalgo account new|import|list` (geth's commands) over the keystore
//! `D/keystore`, and the password input shared with `--unlock`: a file
//! (`--password FILE`, one password per line) or a prompt on the terminal.

use std::path::{Path, PathBuf};

use alloy_primitives::B256;
use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use crate::keys::accounts::Accounts;
use crate::keys::keystore::{KdfStrength, Keystore, KeystoreError, keystore_dir};

/// `kalgo account …`.
#[derive(Subcommand, Debug, Clone)]
pub enum AccountCommand {
    /// Create a new account (a random key) and print its address.
    New(PasswordArgs),
    /// Import a private key (hex, from KEYFILE) into a new key file.
    Import {
        /// File whose first line is the hex private key.
        keyfile: PathBuf,
        #[command(flatten)]
        pw: PasswordArgs,
    },
    /// List the accounts of the keystore.
    List,
}

/// Password source of an account command.
#[derive(Args, Debug, Clone)]
pub struct PasswordArgs {
    /// File whose first line is the password (else a prompt).
    #[arg(long, value_name = "FILE")]
    pub password: Option<PathBuf>,
}

/// Why a password could not be had, from a `--password` file or the terminal.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The `--password` file could not be read (missing, a directory, no
    /// permission): fix the path or its permissions.
    #[error("--password {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The `--password` file is over 1 MiB: not a password file (a wrong path?).
    #[error("--password {}: larger than 1 MiB", .0.display())]
    TooLarge(PathBuf),
    /// The `--password` file holds no password (its first line, or every line,
    /// is empty): write the password on the first line.
    #[error("--password {}: empty password", .0.display())]
    Empty(PathBuf),
    /// The terminal prompt failed, typically because there is no terminal (a
    /// service, a pipe): give the password with `--password FILE`.
    #[error("cannot read a password: {0}")]
    Prompt(#[source] std::io::Error),
}

/// Why an account command failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountCmdError {
    /// The keystore.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The password could not be read.
    #[error("{0}")]
    Password(#[from] PasswordError),
    /// The two passwords typed for a new key differ: nothing was written; run
    /// the command again.
    #[error("passwords do not match")]
    PasswordMismatch,
    /// `account import`: the private key file could not be read.
    #[error("{}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `account import`: the key file's first line has 64 characters that are
    /// not all hex digits.
    #[error("invalid hex private key")]
    KeyHex(#[source] alloy_primitives::hex::FromHexError),
    /// `account import`: the key file's first line is not 64 hex digits (with
    /// or without `0x`): put the 32-byte private key alone on it.
    #[error("the key file must hold a 32-byte hex private key")]
    KeyLength,
}

/// The accounts of `D/keystore`.
pub fn open_accounts(datadir: &Path, light_kdf: bool) -> Accounts {
    Accounts::new(keystore(datadir, light_kdf))
}

fn keystore(datadir: &Path, light_kdf: bool) -> Keystore {
    let strength = if light_kdf {
        KdfStrength::Light
    } else {
        KdfStrength::Standard
    };
    Keystore::new(keystore_dir(datadir), strength)
}

/// Every non-empty line of a password file (geth's `--password`: line i unlocks
/// account i; the last line serves the rest).
pub fn read_password_lines(path: &Path) -> Result<Vec<Zeroizing<Vec<u8>>>, PasswordError> {
    let read = |source| PasswordError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read)?.len();
    if len > 1 << 20 {
        return Err(PasswordError::TooLarge(path.to_path_buf()));
    }
    let text = Zeroizing::new(std::fs::read(path).map_err(read)?);
    let lines: Vec<Zeroizing<Vec<u8>>> = text
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| Zeroizing::new(l.to_vec()))
        .collect();
    if lines.is_empty() {
        return Err(PasswordError::Empty(path.to_path_buf()));
    }
    Ok(lines)
}

/// Reads a password from the terminal without echo.
pub fn prompt(message: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    rpassword::prompt_password(message)
        .map(|s| Zeroizing::new(s.into_bytes()))
        .map_err(PasswordError::Prompt)
}

/// The password of a new key file: the file's first line, or typed twice.
fn new_password(args: &PasswordArgs) -> Result<Zeroizing<Vec<u8>>, AccountCmdError> {
    if let Some(p) = &args.password {
        // `read_password_lines` refuses a file without a password.
        return read_password_lines(p)?
            .into_iter()
            .next()
            .ok_or_else(|| PasswordError::Empty(p.clone()).into());
    }
    println!(
        "Your new account is locked with a password. Please give a password. Do not forget this password."
    );
    let a = prompt("Password: ")?;
    let b = prompt("Repeat password: ")?;
    if a != b {
        return Err(AccountCmdError::PasswordMismatch);
    }
    Ok(a)
}

/// Runs an account command; what to print.
pub fn run(
    datadir: &Path,
    light_kdf: bool,
    cmd: &AccountCommand,
) -> Result<String, AccountCmdError> {
    let ks = keystore(datadir, light_kdf);
    match cmd {
        AccountCommand::List => {
            let mut out = String::new();
            for (i, (address, path)) in ks.list()?.iter().enumerate() {
                out += &format!(
                    "Account #{i}: {{{}}} keystore://{}\n",
                    alloy_primitives::hex::encode(address),
                    path.display()
                );
            }
            Ok(out)
        }
        AccountCommand::New(pw) => {
            let password = new_password(pw)?;
            let address = ks.new_account(&password)?;
            let path = ks.find(&address)?;
            Ok(format!(
                "Public address of the key:   {}\nPath of the secret key file: {}\n",
                address.to_checksum(None),
                path.display()
            ))
        }
        AccountCommand::Import { keyfile, pw } => {
            let text = Zeroizing::new(std::fs::read_to_string(keyfile).map_err(|source| {
                AccountCmdError::KeyFile {
                    path: keyfile.clone(),
                    source,
                }
            })?);
            let line = text.lines().next().unwrap_or_default().trim();
            let hex = line.strip_prefix("0x").unwrap_or(line);
            let secret: B256 = if hex.len() == 64 {
                hex.parse().map_err(AccountCmdError::KeyHex)?
            } else {
                return Err(AccountCmdError::KeyLength);
            };
            let password = new_password(pw)?;
            let address = ks.import(&secret, &password)?;
            Ok(format!(
                "Address: {{{}}}\n",
                alloy_primitives::hex::encode(address)
            ))
        }
    }
}
