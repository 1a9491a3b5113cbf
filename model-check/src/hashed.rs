//! Shared state parts that carry their own content hash.
//!
//! stateright fingerprints every generated state by hashing it. A state holds
//! several machines, journals and the observations behind `Arc`s; hashing them
//! deeply each time dominated the profile. A [`Hashed`] value computes its content
//! hash once, when it changes, and a state hash then mixes in that `u64`.
//! Equality still compares contents, so two values are equal exactly when their
//! contents are.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The fixed-seed hasher used for content hashes (ahash, as stateright's own
/// fingerprints): deterministic for a build, 64-bit quality.
pub fn hash_of<T: Hash + ?Sized>(t: &T) -> u64 {
    const SEEDS: ahash::RandomState = ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    );
    SEEDS.hash_one(t)
}

/// An `Arc<T>` with the hash of its content.
#[derive(Clone, Debug)]
pub struct Hashed<T> {
    inner: Arc<T>,
    hash: u64,
}

impl<T: Hash + Clone> Hashed<T> {
    /// Wraps `value`, hashing it.
    pub fn new(value: T) -> Self {
        let hash = hash_of(&value);
        Hashed {
            inner: Arc::new(value),
            hash,
        }
    }

    /// Changes the value in place (copying it first if shared) and rehashes it.
    pub fn update<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        let r = f(Arc::make_mut(&mut self.inner));
        self.hash = hash_of(&*self.inner);
        r
    }

    /// Mutable access that leaves the hash stale: the caller must call
    /// [`Hashed::rehash`] before the value is hashed or compared again.
    pub fn make_mut_stale(&mut self) -> &mut T {
        Arc::make_mut(&mut self.inner)
    }

    /// Recomputes the hash after [`Hashed::make_mut_stale`].
    pub fn rehash(&mut self) {
        self.hash = hash_of(&*self.inner);
    }

    /// The hash of the content as of the last [`Hashed::rehash`] (or construction).
    pub fn content_hash(&self) -> u64 {
        self.hash
    }

    /// Whether both share one allocation (no change since one was cloned from the
    /// other).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl<T> std::ops::Deref for Hashed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: PartialEq> PartialEq for Hashed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && (Arc::ptr_eq(&self.inner, &other.inner) || *self.inner == *other.inner)
    }
}

impl<T: Eq> Eq for Hashed<T> {}

impl<T> Hash for Hashed<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_follows_content() {
        let a = Hashed::new(vec![1u8, 2, 3]);
        let mut b = a.clone();
        assert!(Hashed::ptr_eq(&a, &b));
        assert_eq!(hash_of(&a), hash_of(&b));
        b.update(|v| v.push(4));
        assert!(!Hashed::ptr_eq(&a, &b));
        assert_ne!(a, b);
        assert_ne!(hash_of(&a), hash_of(&b));
        b.update(|v| {
            v.pop();
        });
        // Equal contents in different allocations: equal, same hash.
        assert!(!Hashed::ptr_eq(&a, &b));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let mut c = a.clone();
        c.make_mut_stale().push(9);
        c.rehash();
        assert_eq!(c, Hashed::new(vec![1u8, 2, 3, 9]));
    }
}
