//! The full vote-authentication path on arbitrary bytes: decode, forward-secure
//! signature, VRF and sortition must reject garbage without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rand_core::SeedableRng;
use spec::auth::{MinerRecord, REAL, RealMinerKeys, authenticate_vote_bytes};
use spec::params::Params;
use spec::types::MinerId;
use std::sync::OnceLock;

fn record() -> &'static MinerRecord {
    static RECORD: OnceLock<MinerRecord> = OnceLock::new();
    RECORD.get_or_init(|| {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let keys = RealMinerKeys::generate(&mut rng, MinerId::from_index(1), 1, 1, 1000, 100)
            .expect("key generation");
        keys.record(1_000)
    })
}

fuzz_target!(|data: &[u8]| {
    let params = Params::new_chain(1);
    let rec = *record();
    let _ = authenticate_vote_bytes(&REAL, &params, data, |_| Some(rec), 4_000, &[9; 32]);
});
