//! The client's link to a cluster: connections, name-server list, client id, timeouts.
//!
//! Producer, consumer and admin share one [`Session`] (behind an `Arc`) the way Java clients share
//! an `MQClientInstance`: one TCP connection per peer, one client id in heartbeats. Every request
//! goes through [`Session::invoke_ok`] (or the name-server variant), which turns transport
//! failures and unexpected response codes into [`ClientError`]s naming the peer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, next_opaque};

use crate::error::{ClientError, Result};
use crate::message_id::local_ipv4;

/// Settings of a [`Session`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Name-server addresses ("host:port").
    pub namesrv_addrs: Vec<String>,
    /// Timeout of one request (Java `sendMsgTimeout` / admin timeout: 3 s).
    pub request_timeout: Duration,
    /// Instance name, part of the client id (`ip@instance`).
    pub instance_name: String,
    /// Transport settings.
    pub transport: ClientConfig,
}

impl SessionConfig {
    /// Settings for the given name servers, Java defaults elsewhere; the instance name is the pid.
    pub fn new(namesrv_addrs: impl IntoIterator<Item = impl Into<String>>) -> Self {
        SessionConfig {
            namesrv_addrs: namesrv_addrs.into_iter().map(Into::into).collect(),
            request_timeout: Duration::from_secs(3),
            instance_name: std::process::id().to_string(),
            transport: ClientConfig::default(),
        }
    }
}

/// Connections and identity shared by producers, consumers and admin clients.
pub struct Session {
    remoting: RemotingClient,
    namesrv_addrs: RwLock<Vec<String>>,
    next_namesrv: AtomicUsize,
    request_timeout: Duration,
    client_id: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("client_id", &self.client_id)
            .field("namesrv_addrs", &self.namesrv_addrs())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens no connection yet: peers are dialed on first use.
    pub fn new(config: SessionConfig) -> Arc<Session> {
        Session::with_dispatch(config, DispatchTable::new())
    }

    /// Like [`Session::new`], answering requests the servers send back on its connections
    /// (NOTIFY_CONSUMER_IDS_CHANGED, CHECK_TRANSACTION_STATE, ...) with `table`.
    pub fn with_dispatch(config: SessionConfig, table: DispatchTable) -> Arc<Session> {
        let ip = local_ipv4();
        Arc::new(Session {
            remoting: RemotingClient::new(config.transport, table),
            namesrv_addrs: RwLock::new(config.namesrv_addrs),
            next_namesrv: AtomicUsize::new(0),
            request_timeout: config.request_timeout,
            client_id: format!("{ip}@{}", config.instance_name),
        })
    }

    /// `ip@instanceName`, as sent in heartbeats.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Default timeout of one request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The configured name servers.
    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addrs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the name-server list.
    pub fn set_namesrv_addrs(&self, addrs: Vec<String>) {
        *self
            .namesrv_addrs
            .write()
            .unwrap_or_else(|e| e.into_inner()) = addrs;
    }

    /// Sends `request` to `addr`; the response must carry one of `accepted` codes.
    pub async fn invoke_ok(
        &self,
        addr: &str,
        request: RemotingCommand,
        accepted: &[ResponseCode],
        timeout: Option<Duration>,
    ) -> Result<RemotingCommand> {
        let code = request.code;
        let timeout = timeout.unwrap_or(self.request_timeout);
        let response = self.remoting.invoke(addr, request, timeout).await?;
        check_code(addr, code, response, accepted)
    }

    /// Sends a oneway `request` to `addr`.
    pub async fn oneway(&self, addr: &str, request: RemotingCommand) -> Result<()> {
        Ok(self.remoting.invoke_oneway(addr, request).await?)
    }

    /// Sends `request` to the name servers in turn until one answers. A transport failure moves
    /// on to the next server; an answer (accepted or not) ends the search.
    pub async fn invoke_namesrv(
        &self,
        request: RemotingCommand,
        accepted: &[ResponseCode],
    ) -> Result<RemotingCommand> {
        let addrs = self.namesrv_addrs();
        if addrs.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        let start = self.next_namesrv.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..addrs.len() {
            let index = (start + i) % addrs.len();
            let attempt = RemotingCommand {
                opaque: next_opaque(),
                ..request.clone()
            };
            match self.invoke_ok(&addrs[index], attempt, accepted, None).await {
                Err(ClientError::Transport(e)) => {
                    tracing::debug!(addr = %addrs[index], error = %e, "name server unreachable");
                    last = Some(ClientError::Transport(e));
                }
                outcome => {
                    self.next_namesrv.store(index, Ordering::Relaxed);
                    return outcome;
                }
            }
        }
        Err(last.unwrap_or(ClientError::NoNameServer))
    }

    /// Sends `request` to every name server; fails if any answered badly or none was reachable.
    pub async fn invoke_all_namesrv(
        &self,
        request: RemotingCommand,
        accepted: &[ResponseCode],
    ) -> Result<()> {
        let addrs = self.namesrv_addrs();
        if addrs.is_empty() {
            return Err(ClientError::NoNameServer);
        }
        for addr in &addrs {
            self.invoke_ok(addr, request.clone(), accepted, None)
                .await?;
        }
        Ok(())
    }

    /// Closes every connection.
    pub fn shutdown(&self) {
        self.remoting.shutdown();
    }
}

/// A fresh request with `code`.
pub fn request(code: impl Into<i32>) -> RemotingCommand {
    RemotingCommand::request(code, next_opaque())
}

/// Accepts `response` if its code is in `accepted`, else a [`ClientError::Broker`].
fn check_code(
    addr: &str,
    request: i32,
    response: RemotingCommand,
    accepted: &[ResponseCode],
) -> Result<RemotingCommand> {
    if accepted.iter().any(|c| c.code() == response.code) {
        return Ok(response);
    }
    Err(ClientError::Broker {
        addr: addr.to_owned(),
        request,
        code: response.code,
        remark: response.remark.unwrap_or_default(),
    })
}
