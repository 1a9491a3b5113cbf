//! Gossiped blocks: decoding never panics and is stable; validation never panics and
//! only accepts a block that re-executes to its own header
//! (`actors::fuzz_checks::check_block_bytes`). The first byte picks the chain.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((chain, block)) = data.split_first() {
        actors::fuzz_checks::check_block_bytes(chain & 1 == 1, block);
    }
});
