//! `ferrimq probe`: a Kubernetes exec probe that asks a local broker or NameServer a real
//! request and exits 0 only when it is answered with SUCCESS in time.
//!
//! A TCP probe only proves that the accept loop runs; this one proves that a request is
//! decoded, dispatched to its processor and answered. The images are `FROM scratch` (no shell,
//! no curl), so the probe is part of the `ferrimq` binary itself:
//!
//! - `broker`: GET_BROKER_RUNTIME_INFO (28), served from the open message store;
//! - `namesrv`: GET_BROKER_CLUSTER_INFO (106), served from the route table.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ferrimq_client::session::request;
use ferrimq_client::{Session, SessionConfig};
use ferrimq_remoting::{RequestCode, ResponseCode};

use crate::admin_cmd::block_on;

/// What the probe talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeTarget {
    /// A broker (GET_BROKER_RUNTIME_INFO).
    Broker,
    /// A NameServer (GET_BROKER_CLUSTER_INFO).
    Namesrv,
}

/// `ferrimq probe`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  ferrimq probe broker --addr 127.0.0.1:10911
  ferrimq probe namesrv --addr 127.0.0.1:9876 --timeout 2")]
pub struct ProbeArgs {
    /// What to probe.
    #[arg(value_enum)]
    target: ProbeTarget,
    /// Address "host:port" (default: the target's standard port on loopback).
    #[arg(long)]
    addr: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

/// Runs `ferrimq probe`; an error (non-zero exit) when the target did not answer SUCCESS.
pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    let (code, default_addr) = match args.target {
        ProbeTarget::Broker => (RequestCode::GetBrokerRuntimeInfo, "127.0.0.1:10911"),
        ProbeTarget::Namesrv => (RequestCode::GetBrokerClusterInfo, "127.0.0.1:9876"),
    };
    let addr = args.addr.as_deref().unwrap_or(default_addr);
    let timeout = Duration::from_secs(args.timeout.max(1));
    let session = Session::new(SessionConfig::new(Vec::<String>::new()));
    let outcome = block_on(async {
        session
            .invoke_ok(addr, request(code), &[ResponseCode::Success], Some(timeout))
            .await
            .with_context(|| format!("{:?} probe of {addr}", args.target))
    });
    session.shutdown();
    outcome?;
    println!("ok");
    Ok(())
}
