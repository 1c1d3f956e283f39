//! Whole-frame decoding of an arbitrary byte stream; every accepted frame must round-trip.
#![no_main]

use bytes::BytesMut;
use ferrimq_remoting::FrameCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = FrameCodec::new(1024 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(cmd)) = codec.decode(&mut buf) {
        let mut again = BytesMut::new();
        if codec.encode(&cmd, &mut again).is_ok() {
            let back = codec.decode(&mut again).expect("re-encoded frame decodes");
            assert_eq!(back.as_ref(), Some(&cmd));
        }
    }
});
