//! SEND_BATCH_MESSAGE body decoding; accepted entries must re-encode and decode identically.
#![no_main]

use bytes::{Bytes, BytesMut};
use ferrimq_remoting::message::{decode_batch, encode_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = decode_batch(&Bytes::copy_from_slice(data)) {
        let mut again = BytesMut::new();
        encode_batch(&entries, &mut again).expect("decoded entries re-encode");
        assert_eq!(decode_batch(&again.freeze()).as_ref(), Ok(&entries));
    }
});
