//! Request/response round trips on loopback: one server echoing the body, N concurrent callers
//! sharing one client connection. Prints round trips per second.
//!
//! Run: `cargo bench -p ferrimq-transport --bench echo -- [callers] [requests_per_caller]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrimq_remoting::{RemotingCommand, ResponseCode};
use ferrimq_transport::{
    ClientConfig, DispatchTable, NoopListener, RemotingClient, RemotingServer, ServerConfig,
};

const ECHO: i32 = 7000;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|arg| !arg.starts_with('-'));
    let callers: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(64);
    let per_caller: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(callers, per_caller))
}

async fn run(callers: usize, per_caller: usize) -> anyhow::Result<()> {
    let table = DispatchTable::new().route(ECHO, |request: RemotingCommand, _channel| async move {
        Ok(Some(
            RemotingCommand::response_to(&request, ResponseCode::Success).with_body(request.body),
        ))
    });
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse()?,
        ..ServerConfig::default()
    };
    let server = RemotingServer::bind(config, table, Arc::new(NoopListener)).await?;
    let addr = server.local_addr().to_string();
    let client = Arc::new(RemotingClient::new(
        ClientConfig::default(),
        DispatchTable::new(),
    ));
    client.channel(&addr).await?;

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (client, addr) = (Arc::clone(&client), addr.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_caller {
                let request = RemotingCommand::request(ECHO, 0).with_body(&b"0123456789abcdef"[..]);
                let response = client
                    .invoke(&addr, request, Duration::from_secs(10))
                    .await?;
                anyhow::ensure!(response.code == 0 && response.body.len() == 16, "bad echo");
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    let total = callers * per_caller;
    println!(
        "echo: {callers} callers x {per_caller} round trips = {total} in {:.3} s -> {:.0} round trips/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
