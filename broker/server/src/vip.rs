//! The VIP ("fast") channel: RocketMQ brokers also serve the same requests on `listenPort - 2`,
//! and clients with `vipChannelEnabled` send there. ferrimq binds that port with the broker's own
//! dispatch table and channel listener, so a request behaves the same whichever port it came in
//! on. The port is skipped when the main port was chosen by the OS (listen port 0) or is below 3;
//! a failed bind is logged and the broker runs without it (the main port stays authoritative).

use std::net::SocketAddr;
use std::sync::Arc;

use ferrimq_transport::{ChannelListener, DispatchTable, RemotingServer, ServerConfig};

/// Binds the VIP port of a broker configured with `listen_port`, listening like `listen`.
pub async fn bind(
    listen_port: u16,
    listen: SocketAddr,
    table: DispatchTable,
    listener: Arc<dyn ChannelListener>,
) -> Option<RemotingServer> {
    let port = vip_port(listen_port)?;
    let config = ServerConfig {
        listen: SocketAddr::new(listen.ip(), port),
        ..ServerConfig::default()
    };
    match RemotingServer::bind(config, table, listener).await {
        Ok(server) => {
            tracing::info!(port, "VIP channel listening");
            Some(server)
        }
        Err(err) => {
            tracing::warn!(port, error = %err, "VIP channel not served");
            None
        }
    }
}

/// `listenPort - 2`, when the listen port was configured (not 0) and leaves room.
pub fn vip_port(listen_port: u16) -> Option<u16> {
    (listen_port > 2).then(|| listen_port - 2)
}

#[cfg(test)]
mod tests {
    use super::vip_port;

    #[test]
    fn vip_port_is_listen_port_minus_two_when_configured() {
        assert_eq!(vip_port(10911), Some(10909));
        assert_eq!(vip_port(0), None);
        assert_eq!(vip_port(2), None);
    }
}
