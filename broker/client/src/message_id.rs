//! Message ids: the client-generated UNIQ_KEY and the broker's offsetMsgId (protocol ref §4.5).
//!
//! UNIQ_KEY = uppercase hex of `[client IPv4: 4][pid: i16][instance hash: i32]
//! [ms since the start of the current month: i32][counter: i16]` — 16 bytes, 32 hex chars, the
//! layout of Java's `MessageClientIDSetter`. The first 10 bytes are fixed per generator; the
//! month start is recomputed when the month rolls over (UTC here; Java uses the local zone, which
//! only shifts the time field and keeps ids unique per generator).
//!
//! offsetMsgId = uppercase hex of `[store ip: 4 or 16][port: i32][commit-log offset: i64]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Uppercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xF)] as char);
    }
    out
}

/// Bytes of an (upper- or lowercase) hex string; `None` if it is not hex of even length.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The offsetMsgId of a record stored by `store_host` at commit-log `offset`.
pub fn offset_msg_id(store_host: SocketAddr, offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&offset.to_be_bytes());
    to_hex(&bytes)
}

/// Splits an offsetMsgId into the store address and commit-log offset (32 hex chars = IPv4,
/// 56 = IPv6); `None` for anything else (for example a UNIQ_KEY that is not hex).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let bytes = from_hex(id)?;
    let ip_len = match bytes.len() {
        16 => 4,
        28 => 16,
        _ => return None,
    };
    let ip = if ip_len == 4 {
        IpAddr::from(<[u8; 4]>::try_from(&bytes[..4]).ok()?)
    } else {
        IpAddr::from(<[u8; 16]>::try_from(&bytes[..16]).ok()?)
    };
    let port = i32::from_be_bytes(bytes[ip_len..ip_len + 4].try_into().ok()?);
    let offset = i64::from_be_bytes(bytes[ip_len + 4..].try_into().ok()?);
    Some((SocketAddr::new(ip, u16::try_from(port).ok()?), offset))
}

/// The IPv4 address this host uses for outbound traffic (no packet is sent), else loopback.
pub fn local_ipv4() -> Ipv4Addr {
    let probe = || -> Option<Ipv4Addr> {
        let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
        socket.connect("10.255.255.255:9").ok()?;
        match socket.local_addr().ok()?.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        }
    };
    probe().unwrap_or(Ipv4Addr::LOCALHOST)
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Unix-epoch milliseconds of 00:00 UTC on the first day of the month containing `millis`.
pub fn month_start_millis(millis: i64) -> i64 {
    let days = millis.div_euclid(86_400_000);
    let (year, month, _) = civil_from_days(days);
    days_from_civil(year, month, 1) * 86_400_000
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Generates UNIQ_KEYs for one client.
#[derive(Debug)]
pub struct UniqIdGenerator {
    fixed: [u8; 10],
    state: Mutex<CounterState>,
}

#[derive(Debug)]
struct CounterState {
    month_start: i64,
    next_month: i64,
    counter: u16,
}

impl UniqIdGenerator {
    /// A generator for this host, process and a per-generator random-ish hash.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // Stands in for Java's class-loader hash: random per generator (std's SipHash keys).
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_i64(now_millis());
        let hash = hasher.finish() as u32;
        UniqIdGenerator::with_parts(local_ipv4(), std::process::id() as u16, hash)
    }

    /// A generator with explicit identity parts (tests, reproducible ids).
    pub fn with_parts(ip: Ipv4Addr, pid: u16, hash: u32) -> Self {
        let mut fixed = [0u8; 10];
        fixed[..4].copy_from_slice(&ip.octets());
        fixed[4..6].copy_from_slice(&pid.to_be_bytes());
        fixed[6..10].copy_from_slice(&hash.to_be_bytes());
        UniqIdGenerator {
            fixed,
            state: Mutex::new(CounterState {
                month_start: 0,
                next_month: i64::MIN,
                counter: 0,
            }),
        }
    }

    /// The next id at the current time.
    pub fn next_id(&self) -> String {
        self.next_id_at(now_millis())
    }

    /// The next id as if the clock read `now` (ms since the epoch).
    pub fn next_id_at(&self, now: i64) -> String {
        let (elapsed, counter) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if now >= state.next_month || now < state.month_start {
                state.month_start = month_start_millis(now);
                state.next_month = month_start_millis(state.month_start + 32 * 86_400_000);
            }
            let counter = state.counter;
            state.counter = state.counter.wrapping_add(1);
            ((now - state.month_start) as i32, counter)
        };
        let mut bytes = [0u8; 16];
        bytes[..10].copy_from_slice(&self.fixed);
        bytes[10..14].copy_from_slice(&elapsed.to_be_bytes());
        bytes[14..].copy_from_slice(&counter.to_be_bytes());
        to_hex(&bytes)
    }
}

impl Default for UniqIdGenerator {
    fn default() -> Self {
        UniqIdGenerator::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniq_key_layout_matches_java() {
        let generator = UniqIdGenerator::with_parts(Ipv4Addr::new(10, 0, 0, 1), 0x1234, 0xCAFEBABE);
        // 2026-11-22T05:00:00.123Z; month start 2026-11-01T00:00:00Z = 1793491200000.
        let now = 1_793_491_200_000 + 21 * 86_400_000 + 5 * 3_600_000 + 123;
        let first = generator.next_id_at(now);
        let second = generator.next_id_at(now);
        let elapsed = format!("{:08X}", (now - 1_793_491_200_000) as i32);
        assert_eq!(first, format!("0A0000011234CAFEBABE{elapsed}0000"));
        assert_eq!(second, format!("0A0000011234CAFEBABE{elapsed}0001"));
        assert_eq!(first.len(), 32);
    }

    #[test]
    fn month_start_is_first_day_midnight_utc() {
        assert_eq!(month_start_millis(1_793_491_200_000 + 5), 1_793_491_200_000);
        // 2024-02-29T12:00Z -> 2024-02-01T00:00Z = 1706745600000.
        assert_eq!(month_start_millis(1_709_208_000_000), 1_706_745_600_000);
        assert_eq!(month_start_millis(0), 0);
    }

    #[test]
    fn offset_msg_id_round_trips() {
        let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
        let id = offset_msg_id(host, 0x1_0000_0002);
        assert_eq!(id, "7F00000100002A9F0000000100000002");
        assert_eq!(decode_offset_msg_id(&id), Some((host, 0x1_0000_0002)));
        assert_eq!(decode_offset_msg_id("not-an-id"), None);
        assert_eq!(decode_offset_msg_id("7F000001"), None);
    }
}
