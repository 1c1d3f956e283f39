//! Listening ports for the `ferrimq` processes the tests start.
//!
//! A broker on port P also binds P+1 (HA) and P-2 (VIP channel). Ports come from
//! 20000..32700, below Linux's ephemeral range (32768..60999), so neither a `bind(0)` of
//! another test nor the local port of an outgoing client connection can take P+1 or P-2
//! between the pick and the broker's bind. Each test process walks the range from a
//! pid-derived start, in steps of 4, so two pickers in one process never hand out
//! overlapping quadruples.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 20_000;
const SLOTS: u32 = (32_700 - FIRST) / 4;

static NEXT_SLOT: AtomicU32 = AtomicU32::new(u32::MAX);

fn bindable(port: u16) -> bool {
    TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// A port P with P-2..=P+1 all free right now and outside the ephemeral range.
pub fn broker_port() -> std::io::Result<u16> {
    let _ = NEXT_SLOT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(2_654_435_761) % SLOTS,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SLOTS {
        let slot = NEXT_SLOT.fetch_add(1, Ordering::SeqCst) % SLOTS;
        let port = (FIRST + slot * 4 + 2) as u16;
        if (port - 2..=port + 1).all(bindable) {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free port quadruple below the ephemeral range",
    ))
}

/// A free port for any listener (NameServer, HA, probe target): same picker.
pub fn free_port() -> std::io::Result<u16> {
    broker_port()
}
