//! JSON header parsing; an accepted header must re-encode to text that parses to the same command.
#![no_main]

use bytes::BytesMut;
use ferrimq_remoting::header::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = json::decode(data) {
        let mut text = BytesMut::new();
        json::encode(&cmd, &mut text);
        assert_eq!(json::decode(&text).as_ref(), Ok(&cmd));
    }
});
