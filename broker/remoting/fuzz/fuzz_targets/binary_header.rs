//! ROCKETMQ binary header parsing; an accepted header must re-encode to the same command.
#![no_main]

use bytes::BytesMut;
use ferrimq_remoting::header::binary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = binary::decode(data) {
        let mut bytes = BytesMut::new();
        binary::encode(&cmd, &mut bytes).expect("decoded header fits its own widths");
        assert_eq!(binary::decode(&bytes).as_ref(), Ok(&cmd));
    }
});
