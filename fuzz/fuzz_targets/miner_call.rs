//! The miner contract (Kaleido §3.2) under arbitrary calldata, callers, value and
//! heights: no panic; a failed or `false` call writes nothing and logs nothing; a
//! successful `set` emits one event (`actors::fuzz_checks::check_miner_call`).
#![no_main]

use actors::fuzz_checks::{MinerCall, check_miner_call};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_miner_call(&MinerCall::from_bytes(data));
});
