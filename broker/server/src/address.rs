//! How the broker names itself: the listen address, the address registered with NameServers
//! (`brokerIP1:listenPort`, an IP or, in Kubernetes, the pod's stable DNS name), the HA address,
//! and the STOREHOST IP written into every record (a name is resolved once at start-up; if it
//! does not resolve yet, the address of the outgoing interface is used, which is the pod IP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use ferrimq_config::BrokerSettings;
use ferrimq_config::broker::Host;

use crate::error::{Result, ServerError};

/// The broker's resolved addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses {
    /// `0.0.0.0:listenPort` (a free port when the setting is 0).
    pub listen: SocketAddr,
    /// "host:port" registered with NameServers and handed to clients.
    pub broker_addr: String,
    /// "host:haPort" registered with NameServers.
    pub ha_addr: String,
    /// STOREHOST of every record (and the host part of every offsetMsgId).
    pub store_host: SocketAddr,
}

impl Addresses {
    /// Resolves the addresses of `settings` with the HA port `ha_port`.
    pub async fn resolve(settings: &BrokerSettings, ha_port: u16) -> Result<Addresses> {
        let listen = listen_addr(settings.listen_port)?;
        let port = listen.port();
        let host = match &settings.broker_ip1 {
            Some(host) => host.clone(),
            None => Host(outgoing_ip().to_string()),
        };
        let ha_host = settings.broker_ip2.clone().unwrap_or_else(|| host.clone());
        let store_ip = match host.ip() {
            Some(ip) => ip,
            None => resolve_name(&host.0, port).await,
        };
        Ok(Addresses {
            listen,
            broker_addr: join(&host, port),
            ha_addr: join(&ha_host, ha_port),
            store_host: SocketAddr::new(store_ip, port),
        })
    }
}

/// "ip:port", "[v6]:port" or "name:port".
fn join(host: &Host, port: u16) -> String {
    match host.ip() {
        Some(ip) => SocketAddr::new(ip, port).to_string(),
        None => format!("{}:{port}", host.0),
    }
}

/// The first address of `name` (IPv4 preferred), else the outgoing interface's.
async fn resolve_name(name: &str, port: u16) -> IpAddr {
    let found: Vec<SocketAddr> = match tokio::net::lookup_host((name, port)).await {
        Ok(addrs) => addrs.collect(),
        Err(err) => {
            tracing::warn!(name, error = %err, "brokerIP1 does not resolve yet; STOREHOST uses the interface address");
            Vec::new()
        }
    };
    let v4 = found.iter().find(|a| a.is_ipv4()).or(found.first());
    v4.map_or_else(outgoing_ip, SocketAddr::ip)
}

/// `0.0.0.0:port`; port 0 is resolved to a free port now, because the port is part of the
/// STOREHOST written into every message and must be known before the server starts.
fn listen_addr(port: u16) -> Result<SocketAddr> {
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    if port != 0 {
        return Ok(any);
    }
    let probe = std::net::TcpListener::bind(any).map_err(|_| ServerError::Listen(any))?;
    probe.local_addr().map_err(|_| ServerError::Listen(any))
}

/// The address of the interface that routes outwards, else 127.0.0.1.
fn outgoing_ip() -> IpAddr {
    // Connecting a UDP socket sends nothing; it only selects the outgoing interface.
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("8.8.8.8:80").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ip1: Option<&str>, ip2: Option<&str>) -> BrokerSettings {
        let mut s = ferrimq_config::BrokerConfig::default().broker;
        s.listen_port = 10911;
        s.broker_ip1 = ip1.map(|h| Host(h.to_owned()));
        s.broker_ip2 = ip2.map(|h| Host(h.to_owned()));
        s
    }

    #[tokio::test]
    async fn ip_and_name_hosts() {
        let a = Addresses::resolve(&settings(Some("10.1.2.3"), None), 10912)
            .await
            .expect("ok");
        assert_eq!(a.broker_addr, "10.1.2.3:10911");
        assert_eq!(a.ha_addr, "10.1.2.3:10912");
        assert_eq!(a.store_host, "10.1.2.3:10911".parse().expect("addr"));
        let a = Addresses::resolve(&settings(Some("localhost"), Some("10.9.9.9")), 10912)
            .await
            .expect("ok");
        assert_eq!(a.broker_addr, "localhost:10911");
        assert_eq!(a.ha_addr, "10.9.9.9:10912");
        assert!(
            a.store_host.ip().is_loopback(),
            "localhost resolves to loopback: {}",
            a.store_host
        );
    }
}
