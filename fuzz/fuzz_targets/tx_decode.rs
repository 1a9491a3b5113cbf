//! Raw transactions as `eth_sendRawTransaction` and transaction gossip deliver them:
//! pool admission never panics, a refused transaction changes nothing, an admitted
//! one is pooled once (`actors::fuzz_checks::check_raw_transaction`). The first
//! byte picks the chain (odd: Kaleido's Byzantium, even: latest fork).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((chain, raw)) = data.split_first() {
        actors::fuzz_checks::check_raw_transaction(chain & 1 == 1, raw);
    }
});
