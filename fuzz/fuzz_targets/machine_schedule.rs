//! Three consensus drivers and one Byzantine signer under a fuzzer-chosen
//! schedule of deliveries, duplicates, losses, timer firings and Byzantine
//! votes, proposals and forged blocks, all as signed wire bytes; every safety
//! invariant is checked after every event (spec::schedule).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = spec::schedule::run_schedule(data) {
        panic!("safety violated: {violation}");
    }
});
