//! JSON bodies in fastjson's dialect (heartbeat, route, consume stats) and the zlib form of the
//! broker registration must never panic.
#![no_main]

use ferrimq_remoting::body::{
    ConsumeStats, HeartbeatData, JsonBody, RegisterBrokerBody, TopicRouteData,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = HeartbeatData::decode(data);
    let _ = TopicRouteData::decode(data);
    let _ = ConsumeStats::decode(data);
    let _ = RegisterBrokerBody::decode_compressed(data);
});
