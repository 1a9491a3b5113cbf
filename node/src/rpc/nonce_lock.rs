//! One send at a time per node-held account (geth's per-address nonce lock).
//!
//! `eth_sendTransaction`, `personal_sendTransaction`, the heartbeat sender and
//! the equivocation reporter fill a missing nonce from the pool's pending
//! nonce, then estimate gas, sign and submit. Two such sends from one account
//! that overlap read the same pending nonce, and the pool refuses the second
//! as an underpriced replacement. Holding the account's lock from reading the
//! nonce until the pool has answered makes each send see the one before it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy_primitives::Address;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The locks of the accounts with a send in flight or waiting (an entry is
/// dropped with its last holder, so the map stays as small as the sends).
#[derive(Debug, Default)]
pub struct NonceLocks {
    locks: Mutex<HashMap<Address, Arc<AsyncMutex<()>>>>,
}

/// Holds an account's lock; dropping it lets the next send of that account go.
#[derive(Debug)]
pub struct AccountGuard<'a> {
    owner: &'a NonceLocks,
    address: Address,
    held: Option<OwnedMutexGuard<()>>,
}

impl NonceLocks {
    /// Waits until no other send of `address` holds its lock, then holds it.
    pub async fn lock(&self, address: Address) -> AccountGuard<'_> {
        let lock = self
            .map()
            .entry(address)
            .or_insert_with(|| Arc::new(AsyncMutex::new(())))
            .clone();
        AccountGuard {
            owner: self,
            address,
            held: Some(lock.lock_owned().await),
        }
    }

    /// Accounts with a lock entry (held or waited for).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no account has a lock entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Arc<AsyncMutex<()>>>> {
        // A panic while the map was held cannot leave it inconsistent (each
        // operation is one insert or remove).
        self.locks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        self.held = None;
        let mut map = self.owner.map();
        // Only the map holds it: nobody holds or waits for this account.
        if map
            .get(&self.address)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.address);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NonceLocks;
    use alloy_primitives::Address;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Sends of one account run one at a time, sends of different accounts
    /// at once, and no entry outlives its holders.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_send_per_account_at_a_time() {
        let locks = Arc::new(NonceLocks::default());
        let inside = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let most = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..16 {
            let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
            tasks.spawn(async move {
                let k = i % 2;
                let _held = locks.lock(Address::repeat_byte(k as u8 + 1)).await;
                let now = inside[k].fetch_add(1, Ordering::SeqCst) + 1;
                most[k].fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside[k].fetch_sub(1, Ordering::SeqCst);
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
        assert_eq!(most[0].load(Ordering::SeqCst), 1);
        assert_eq!(most[1].load(Ordering::SeqCst), 1);
        assert!(locks.is_empty(), "{} entries left", locks.len());

        // Two accounts are not serialised against each other.
        let a = locks.lock(Address::repeat_byte(1)).await;
        let b = tokio::time::timeout(Duration::from_secs(5), locks.lock(Address::repeat_byte(2)))
            .await
            .expect("another account's lock is free");
        assert_eq!(locks.len(), 2);
        drop((a, b));
        assert!(locks.is_empty());
    }
}
