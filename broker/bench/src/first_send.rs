//! Time to the first accepted send: how soon a freshly spawned broker serves a producer.
//!
//! [`first_send`] retries a 1-byte send every few milliseconds (a fresh producer each attempt, so
//! no route or "broker unavailable" state is cached between attempts) until one comes back
//! SEND_OK, and returns when. The caller measures from the broker's spawn time; start-up then
//! covers store recovery, listening, registration with the NameServer and the route lookup, as a
//! client sees it. The topic is auto-created through TBW102 if it does not exist.

use std::time::{Duration, Instant};

use ferrimq_client::{Message, Producer, ProducerConfig, SendStatus};

use crate::error::{BenchError, Result};
use crate::setup::Target;

/// Pause between attempts.
const RETRY_EVERY: Duration = Duration::from_millis(5);

/// Sends to `target.topic` until one send is accepted or `timeout` passes; returns the instant the
/// accepted send's response arrived.
pub async fn first_send(target: &Target, timeout: Duration) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    let session = target.session("first-send");
    let mut last_error = String::from("no attempt made");
    while Instant::now() < deadline {
        let mut config = ProducerConfig::new("ferrimq_bench_first_send");
        config.send_timeout = Duration::from_millis(500);
        config.retry_times = 0;
        let producer = Producer::new(session.clone(), config);
        match producer
            .send(Message::new(target.topic.clone(), &b"x"[..]))
            .await
        {
            Ok(result) if result.status == SendStatus::SendOk => {
                let accepted = Instant::now();
                session.shutdown();
                return Ok(accepted);
            }
            Ok(result) => last_error = format!("send status {:?}", result.status),
            Err(err) => last_error = err.to_string(),
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
    session.shutdown();
    Err(BenchError::Setup {
        what: format!("a first accepted send to {}", target.topic),
        reason: format!("none within {timeout:?}; last error: {last_error}"),
    })
}
