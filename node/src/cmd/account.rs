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

/// Why an account command failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountCmdError {
    /// The keystore.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// Reading a password or key.
    #[error("{0}")]
    Input(String),
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
pub fn read_password_lines(path: &Path) -> Result<Vec<Zeroizing<Vec<u8>>>, AccountCmdError> {
    let len = std::fs::metadata(path)
        .map_err(|e| AccountCmdError::Input(format!("--password {}: {e}", path.display())))?
        .len();
    if len > 1 << 20 {
        return Err(AccountCmdError::Input(format!(
            "--password {}: larger than 1 MiB",
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| AccountCmdError::Input(format!("--password {}: {e}", path.display())))?,
    );
    let lines: Vec<Zeroizing<Vec<u8>>> = text
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(|l| Zeroizing::new(l.to_vec()))
        .collect();
    if lines.is_empty() {
        return Err(AccountCmdError::Input(format!(
            "--password {}: empty password",
            path.display()
        )));
    }
    Ok(lines)
}

/// Reads a password from the terminal without echo.
pub fn prompt(message: &str) -> Result<Zeroizing<Vec<u8>>, AccountCmdError> {
    rpassword::prompt_password(message)
        .map(|s| Zeroizing::new(s.into_bytes()))
        .map_err(|e| AccountCmdError::Input(format!("cannot read a password: {e}")))
}

/// The password of a new key file: the file's first line, or typed twice.
fn new_password(args: &PasswordArgs) -> Result<Zeroizing<Vec<u8>>, AccountCmdError> {
    if let Some(p) = &args.password {
        return read_password_lines(p).and_then(|mut l| {
            if l.is_empty() {
                Err(AccountCmdError::Input("empty password".into()))
            } else {
                Ok(l.swap_remove(0))
            }
        });
    }
    println!(
        "Your new account is locked with a password. Please give a password. Do not forget this password."
    );
    let a = prompt("Password: ")?;
    let b = prompt("Repeat password: ")?;
    if a != b {
        return Err(AccountCmdError::Input("passwords do not match".into()));
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
            let text = Zeroizing::new(
                std::fs::read_to_string(keyfile)
                    .map_err(|e| AccountCmdError::Input(format!("{}: {e}", keyfile.display())))?,
            );
            let line = text.lines().next().unwrap_or_default().trim();
            let hex = line.strip_prefix("0x").unwrap_or(line);
            let secret: B256 = if hex.len() == 64 {
                hex.parse()
                    .map_err(|_| AccountCmdError::Input("invalid hex private key".into()))?
            } else {
                return Err(AccountCmdError::Input(
                    "the key file must hold a 32-byte hex private key".into(),
                ));
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
