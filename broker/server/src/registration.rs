//! Broker registration with NameServers: REGISTER_BROKER to every NameServer at start-up, every
//! `registerNameServerPeriod` and after every topic change; UNREGISTER_BROKER at shutdown.

use std::sync::Arc;
use std::time::Duration;

use ferrimq_remoting::body::{JsonBody, RegisterBrokerBody};
use ferrimq_remoting::header::typed::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use ferrimq_remoting::{RemotingCommand, RequestCode, ResponseCode};
use ferrimq_transport::{ClientConfig, DispatchTable, RemotingClient, next_opaque};
use tokio::sync::watch;

use crate::error::{Result, ServerError};
use crate::slave::MasterLink;
use crate::topics::TopicRegistry;

/// Who this broker is, as NameServers see it.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    /// `brokerClusterName`.
    pub cluster: String,
    /// `brokerName`.
    pub name: String,
    /// `brokerId`.
    pub id: i64,
    /// `brokerIP1:listenPort`.
    pub addr: String,
    /// `brokerIP2:haPort`.
    pub ha_addr: String,
}

/// Registers one broker with a list of NameServers.
pub struct Registrar {
    identity: BrokerIdentity,
    namesrvs: Vec<String>,
    topics: Arc<TopicRegistry>,
    client: RemotingClient,
    timeout: Duration,
    master_link: Option<Arc<MasterLink>>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("identity", &self.identity)
            .field("namesrvs", &self.namesrvs)
            .finish()
    }
}

impl Registrar {
    /// A registrar for `namesrvs` ("host:port" each).
    pub fn new(
        identity: BrokerIdentity,
        namesrvs: Vec<String>,
        topics: Arc<TopicRegistry>,
        timeout: Duration,
    ) -> Self {
        Registrar {
            identity,
            namesrvs,
            topics,
            client: RemotingClient::new(ClientConfig::default(), DispatchTable::new()),
            timeout,
            master_link: None,
        }
    }

    /// A slave's registrar: every REGISTER_BROKER response's `masterAddr` / `haServerAddr`
    /// go to `link` (`None` keeps a master's registrar unchanged).
    pub fn with_master_link(mut self, link: Option<Arc<MasterLink>>) -> Self {
        self.master_link = link;
        self
    }

    /// REGISTER_BROKER to every NameServer; failures are logged, the first is returned.
    pub async fn register_all(&self) -> Result<()> {
        let request = self.register_request()?;
        let mut first_error = None;
        for addr in &self.namesrvs {
            if let Err(err) = self.register_one(addr, request.clone()).await {
                tracing::warn!(namesrv = %addr, error = %err, "broker registration failed");
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn register_one(&self, addr: &str, request: RemotingCommand) -> Result<()> {
        let response = self.client.invoke(addr, request, self.timeout).await?;
        if response.code != ResponseCode::Success.code() {
            return Err(ServerError::Registration {
                addr: addr.to_owned(),
                code: response.code,
                remark: response.remark.unwrap_or_default(),
            });
        }
        tracing::debug!(namesrv = %addr, "broker registered");
        if let Some(link) = &self.master_link {
            let header: RegisterBrokerResponseHeader = response.decode_header()?;
            link.learn(header.master_addr, header.ha_server_addr);
        }
        Ok(())
    }

    fn register_request(&self) -> Result<RemotingCommand> {
        let body = RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: self.topics.registration_snapshot(),
        }
        .encode()?;
        let crc = (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32;
        let header = RegisterBrokerRequestHeader {
            broker_name: self.identity.name.clone(),
            broker_addr: self.identity.addr.clone(),
            cluster_name: self.identity.cluster.clone(),
            ha_server_addr: self.identity.ha_addr.clone(),
            broker_id: self.identity.id,
            heartbeat_timeout_millis: None,
            enable_acting_master: None,
            compressed: Some(false),
            body_crc32: Some(crc),
        };
        Ok(
            RemotingCommand::request(RequestCode::RegisterBroker, next_opaque())
                .with_header(&header)
                .with_body(body),
        )
    }

    /// UNREGISTER_BROKER to every NameServer (best effort, at shutdown).
    pub async fn unregister_all(&self) {
        let header = UnregisterBrokerRequestHeader {
            broker_name: self.identity.name.clone(),
            broker_addr: self.identity.addr.clone(),
            cluster_name: self.identity.cluster.clone(),
            broker_id: self.identity.id,
        };
        for addr in &self.namesrvs {
            let request = RemotingCommand::request(RequestCode::UnregisterBroker, next_opaque())
                .with_header(&header);
            if let Err(err) = self.client.invoke(addr, request, self.timeout).await {
                tracing::warn!(namesrv = %addr, error = %err, "broker unregistration failed");
            }
        }
        self.client.shutdown();
    }

    /// Re-registers every `period` and after topic changes until `stop` flips to true.
    pub async fn run(self: Arc<Self>, period: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = self.topics.changed() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            // Errors are logged per NameServer; the next round retries.
            let _ = self.register_all().await;
        }
    }
}
