//! Every consensus wire message: decoding never panics, and whatever decodes is
//! canonical (re-encoding gives back the same bytes) and stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spec::codec::WireMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = WireMessage::decode(data) {
        let bytes = msg.encode();
        assert_eq!(bytes, data, "a decoded message re-encodes differently");
        assert_eq!(WireMessage::decode(&bytes).as_ref(), Ok(&msg));
    }
});
