//! `ferrimq probe` (the operator's exec probe) against a real `ferrimq standalone`: SUCCESS
//! answers exit 0 and print `ok`; a closed port, or asking a broker the NameServer's question,
//! exits non-zero.

mod compat_harness;
mod ports;

use std::process::{Command, Output};

use compat_harness::{Result, Standalone, free_port};

fn probe(target: &str, port: u16) -> Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_ferrimq"))
        .args(["probe", target, "--addr", &format!("127.0.0.1:{port}")])
        .args(["--timeout", "3"])
        .env("RUST_BACKTRACE", "0")
        .output()?)
}

#[test]
fn probe_exits_zero_only_when_the_target_answers_success() -> Result<()> {
    let node = Standalone::new()?;
    let process = node.start()?;
    let broker = probe("broker", node.broker_port)?;
    assert!(broker.status.success(), "{broker:?}");
    assert_eq!(String::from_utf8_lossy(&broker.stdout), "ok\n");
    let namesrv = probe("namesrv", node.namesrv_port)?;
    assert!(namesrv.status.success(), "{namesrv:?}");
    assert_eq!(String::from_utf8_lossy(&namesrv.stdout), "ok\n");

    let wrong_role = probe("namesrv", node.broker_port)?;
    assert_eq!(wrong_role.status.code(), Some(1));
    assert!(wrong_role.stdout.is_empty());
    let closed = probe("broker", free_port()?)?;
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("Broker probe of 127.0.0.1:"));
    process.stop()
}
