//! The offsetMsgId: what the broker returns as `msgId` and clients compute when decoding.
//!
//! Uppercase hex of STOREHOST address bytes (4 or 16) + port (int32) + CommitLog offset (int64):
//! 32 characters for IPv4, 56 for IPv6. A 32-character id is decoded as IPv4 (as Java's
//! `MessageDecoder.decodeMessageId` does).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A string that is not an offsetMsgId.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid offsetMsgId {id:?}: {reason}")]
pub struct MsgIdError {
    /// The rejected id.
    pub id: String,
    /// Why.
    pub reason: &'static str,
}

/// Encodes the offsetMsgId of the record at `offset` stored by `store_host`.
pub fn encode(store_host: SocketAddr, offset: i64) -> String {
    let mut out = String::with_capacity(56);
    encode_into(&mut out, store_host, offset);
    out
}

/// Appends the offsetMsgId of the record at `offset` to `out` (a batch answers with all of
/// its ids in one comma-separated string).
pub fn encode_into(out: &mut String, store_host: SocketAddr, offset: i64) {
    match store_host.ip() {
        IpAddr::V4(ip) => push_hex(out, &ip.octets()),
        IpAddr::V6(ip) => push_hex(out, &ip.octets()),
    }
    push_hex(out, &i32::from(store_host.port()).to_be_bytes());
    push_hex(out, &offset.to_be_bytes());
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
}

/// Decodes an offsetMsgId into the store host and the CommitLog offset.
pub fn decode(id: &str) -> Result<(SocketAddr, i64), MsgIdError> {
    let err = |reason| MsgIdError {
        id: id.to_owned(),
        reason,
    };
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return Err(err("length must be 32 (IPv4) or 56 (IPv6)")),
    };
    let raw = (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(id.get(i..i + 2).unwrap_or("!"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| err("not hexadecimal"))?;
    let ip = if ip_len == 4 {
        let o: [u8; 4] = raw[..4].try_into().expect("4 bytes");
        IpAddr::V4(Ipv4Addr::from(o))
    } else {
        let o: [u8; 16] = raw[..16].try_into().expect("16 bytes");
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let port = i32::from_be_bytes(raw[ip_len..ip_len + 4].try_into().expect("4 bytes"));
    let offset = i64::from_be_bytes(raw[ip_len + 4..].try_into().expect("8 bytes"));
    let port = u16::try_from(port).map_err(|_| err("port out of range"))?;
    Ok((SocketAddr::new(ip, port), offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_round_trip() {
        let v4: SocketAddr = "10.1.2.3:10911".parse().unwrap();
        let id = encode(v4, 0x1234);
        assert_eq!(id, "0A01020300002A9F0000000000001234");
        assert_eq!(decode(&id).unwrap(), (v4, 0x1234));
        let v6: SocketAddr = "[fe80::1]:10911".parse().unwrap();
        let id6 = encode(v6, 1 << 40);
        assert_eq!(id6.len(), 56);
        assert_eq!(&id6[..8], "FE800000");
        assert_eq!(decode(&id6).unwrap(), (v6, 1 << 40));
        assert_eq!(
            decode("0a01020300002a9f0000000000001234").unwrap(),
            (v4, 0x1234)
        );
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(
            decode("ABC").unwrap_err().reason,
            "length must be 32 (IPv4) or 56 (IPv6)"
        );
        assert_eq!(
            decode("ZZ01020300002A9F0000000000001234")
                .unwrap_err()
                .reason,
            "not hexadecimal"
        );
        assert_eq!(
            decode("0A010203FFFFFFFF0000000000001234")
                .unwrap_err()
                .reason,
            "port out of range"
        );
        assert_eq!(
            decode("0A01020300002A9F00000000000012é")
                .unwrap_err()
                .reason,
            "not hexadecimal"
        );
    }
}
