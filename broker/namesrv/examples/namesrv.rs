//! Runs a name server on the given port until killed, for manual checks with Java tools:
//! `cargo run -p ferrimq-namesrv --example namesrv -- 19876 /tmp/kvConfig.json`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ferrimq_config::NamesrvConfig;
use ferrimq_namesrv::NameServer;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .unwrap_or_else(|| "9876".into())
        .parse()
        .context("port")?;
    let kv_config_path = args
        .next()
        .map_or_else(|| PathBuf::from("kvConfig.json"), PathBuf::from);
    let config = NamesrvConfig {
        listen_port: port,
        kv_config_path,
        order_message_enable: true,
        ..Default::default()
    };
    let namesrv = NameServer::start(config).await?;
    println!("ferrimq name server listening on {}", namesrv.local_addr());
    tokio::signal::ctrl_c().await?;
    namesrv.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(())
}
