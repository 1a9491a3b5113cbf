//! The consensus driver's inbound path: arbitrary bytes cut into messages on
//! every topic; never a failure, one verdict per message, bounded buffers
//! (`spec::driver::check::check_inbound`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    spec::driver::check::check_inbound(data);
});
