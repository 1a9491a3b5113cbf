//! Miner vote-key files: decoding arbitrary bytes never panics, and what decodes
//! re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec::crypto::real::FsKeySet;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = FsKeySet::from_bytes(data) {
        assert_eq!(&keys.to_bytes()[..], data);
    }
});
