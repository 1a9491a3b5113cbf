//! JSON-RPC parameters as any client can send them: positional arguments,
//! quantities, block tags and EIP-1898 objects, call and filter objects, through the
//! parsers every method uses (`node::rpc::fuzz_checks::check_params`): no panic, and
//! what parses is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        node::rpc::fuzz_checks::check_params(text);
    }
});
