//! Node-held accounts: the keystore plus the keys unlocked in memory
//! (`personal_unlockAccount`, `--unlock`), each until a deadline or until locked
//! or the node exits. Decryption (scrypt) is slow on purpose: callers run it off
//! the async threads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use alloy_signer_local::PrivateKeySigner;

use crate::keys::keystore::{Keystore, KeystoreError};

/// geth's default unlock duration when none is given: 300 s.
pub const DEFAULT_UNLOCK: Duration = Duration::from_secs(300);

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The keystore.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// The account is not unlocked (geth's message).
    #[error("authentication needed: password or unlock")]
    Locked,
    /// The account has no key file (geth's message).
    #[error("unknown account")]
    Unknown,
}

struct Unlocked {
    signer: PrivateKeySigner,
    until: Option<Instant>,
}

/// The keystore and the unlocked keys.
pub struct Accounts {
    keystore: Keystore,
    unlocked: Mutex<HashMap<Address, Unlocked>>,
}

impl Accounts {
    /// Accounts over `keystore`, none unlocked.
    pub fn new(keystore: Keystore) -> Self {
        Self {
            keystore,
            unlocked: Mutex::new(HashMap::new()),
        }
    }

    /// Every account of the keystore (`eth_accounts`, `personal_listAccounts`).
    pub fn list(&self) -> Result<Vec<Address>, AccountError> {
        Ok(self.keystore.list()?.into_iter().map(|(a, _)| a).collect())
    }

    /// Stores a raw secret key (`personal_importRawKey`).
    pub fn import_raw(&self, secret: &B256, password: &[u8]) -> Result<Address, AccountError> {
        Ok(self.keystore.import(secret, password)?)
    }

    /// Makes a new account (`personal_newAccount`).
    pub fn new_account(&self, password: &[u8]) -> Result<Address, AccountError> {
        Ok(self.keystore.new_account(password)?)
    }

    /// Decrypts `address`'s key with `password` (slow: scrypt).
    pub fn decrypt(
        &self,
        address: &Address,
        password: &[u8],
    ) -> Result<PrivateKeySigner, AccountError> {
        self.keystore
            .unlock(address, password)
            .map_err(|e| match e {
                KeystoreError::NoKey => AccountError::Unknown,
                other => AccountError::Keystore(other),
            })
    }

    /// Unlocks `address` for `duration` (`None` = until locked or the node exits).
    pub fn unlock(
        &self,
        address: &Address,
        password: &[u8],
        duration: Option<Duration>,
    ) -> Result<(), AccountError> {
        let signer = self.decrypt(address, password)?;
        let until = duration.map(|d| Instant::now() + d);
        self.guard().insert(*address, Unlocked { signer, until });
        Ok(())
    }

    /// Locks `address`; whether it was unlocked.
    pub fn lock(&self, address: &Address) -> bool {
        self.guard().remove(address).is_some()
    }

    /// The signer of an unlocked account (an expired unlock is dropped here).
    pub fn signer(&self, address: &Address) -> Result<PrivateKeySigner, AccountError> {
        let mut map = self.guard();
        match map.get(address) {
            Some(u) if u.until.is_none_or(|t| Instant::now() < t) => Ok(u.signer.clone()),
            Some(_) => {
                map.remove(address);
                Err(AccountError::Locked)
            }
            None => Err(AccountError::Locked),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Unlocked>> {
        self.unlocked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::keystore::KdfStrength;

    #[test]
    fn unlock_lock_and_expiry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let acc = Accounts::new(Keystore::new(dir.path().to_path_buf(), KdfStrength::Light));
        let a = acc.new_account(b"pw").expect("new");
        assert!(matches!(acc.signer(&a), Err(AccountError::Locked)));
        assert!(acc.unlock(&a, b"bad", None).is_err());
        assert!(matches!(
            acc.unlock(&Address::ZERO, b"pw", None),
            Err(AccountError::Unknown)
        ));
        acc.unlock(&a, b"pw", None).expect("unlock");
        assert_eq!(acc.signer(&a).map(|s| s.address()).ok(), Some(a));
        assert!(acc.lock(&a));
        assert!(matches!(acc.signer(&a), Err(AccountError::Locked)));
        // A zero-length unlock has already expired when it is used.
        acc.unlock(&a, b"pw", Some(Duration::ZERO)).expect("unlock");
        assert!(matches!(acc.signer(&a), Err(AccountError::Locked)));
        assert_eq!(acc.list().expect("list"), vec![a]);
    }
}
