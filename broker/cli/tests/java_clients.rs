//! `ferrimq standalone` as a process, driven by the official Apache RocketMQ 5.3.3 Java clients:
//!
//! - `standalone_starts_and_stops_cleanly`: the binary listens on both ports and, on SIGTERM,
//!   exits 0 leaving no `abort` marker (the store was shut down, not dropped).
//! - `java_producer_lite_pull_and_push_consumers_round_trip`: `ClientRoundTrip` (e2e/java) produces
//!   messages with DefaultMQProducer to an auto-created topic and reads them back with
//!   DefaultLitePullConsumer and DefaultMQPushConsumer, asserting the exact (msgId, body) set;
//!   64 single sends plus one batch of 8 whose ids must all differ (RocketMQ ISSUE #9416).
//!   It needs Java 17 and Maven: without them it prints a notice and passes, unless
//!   `FERRIMQ_REQUIRE_JAVA=1`, which makes that a failure.

mod ports;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A running `ferrimq standalone`, stopped with SIGTERM (or killed when dropped early).
struct Standalone {
    child: Option<Child>,
    dir: tempfile::TempDir,
    namesrv_port: u16,
}

fn free_port() -> Result<u16> {
    Ok(ports::free_port()?)
}

fn wait_listening(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

impl Standalone {
    fn start() -> Result<Standalone> {
        let dir = tempfile::tempdir()?;
        let (namesrv_port, broker_port) = (free_port()?, ports::broker_port()?);
        let log = std::fs::File::create(dir.path().join("ferrimq.log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
            .arg("standalone")
            .arg("--dir")
            .arg(dir.path().join("data"))
            .args(["--namesrv-port", &namesrv_port.to_string()])
            .args(["--broker-port", &broker_port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let node = Standalone {
            child: Some(child),
            dir,
            namesrv_port,
        };
        for port in [namesrv_port, broker_port] {
            if !wait_listening(port, Duration::from_secs(30)) {
                return Err(format!("port {port} not listening; log:\n{}", node.log()).into());
            }
        }
        Ok(node)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ferrimq.log")).unwrap_or_default()
    }

    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("store")
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> Result<()> {
        let mut child = self.child.take().ok_or("already stopped")?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = child.try_wait()? {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no exit within 30 s of SIGTERM; log:\n{}", self.log()).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(exit.success(), "exit status {exit}; log:\n{}", self.log());
        assert!(
            !self.store_dir().join("abort").exists(),
            "abort marker left behind"
        );
        Ok(())
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn standalone_starts_and_stops_cleanly() -> Result<()> {
    let node = Standalone::start()?;
    assert!(node.store_dir().join("config").join("topics.json").exists());
    node.stop()
}

/// The compiled e2e/java classes plus the RocketMQ client classpath, or None without Java.
fn java_classpath(root: &Path) -> Result<Option<String>> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let required = std::env::var("FERRIMQ_REQUIRE_JAVA").as_deref() == Ok("1");
    if !(runs("java", "-version") && runs("mvn", "-v")) {
        if required {
            return Err("FERRIMQ_REQUIRE_JAVA=1 but java or mvn is not runnable".into());
        }
        eprintln!(
            "java_clients: java/mvn not found, skipping (set FERRIMQ_REQUIRE_JAVA=1 to require it)"
        );
        return Ok(None);
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/java-compat.sh"))
        .arg("classpath")
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "java-compat.sh classpath failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let cp = String::from_utf8(out.stdout)?;
    Ok(cp.lines().last().map(str::to_owned))
}

#[test]
fn java_producer_lite_pull_and_push_consumers_round_trip() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(classpath) = java_classpath(&root)? else {
        return Ok(());
    };
    let node = Standalone::start()?;
    let output = Command::new("timeout")
        .arg("300")
        .arg("java")
        .args([
            "-XX:+UseSerialGC",
            "-Xmx256m",
            "-Drocketmq.client.logUseSlf4j=false",
        ])
        .arg(format!("-Duser.home={}", node.dir.path().display()))
        .args(["-cp", &classpath, "io.ferrimq.compat.ClientRoundTrip"])
        .args(["--namesrv", &format!("127.0.0.1:{}", node.namesrv_port)])
        .args([
            "--topic",
            "JavaRoundTrip",
            "--count",
            "64",
            "--timeout-ms",
            "120000",
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success()
            && stdout.contains("ClientRoundTrip: 72 messages produced, pulled and pushed"),
        "ClientRoundTrip failed ({}):\n{}\n{}\nbroker log:\n{}",
        output.status,
        stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n"),
        String::from_utf8_lossy(&output.stderr),
        node.log()
    );
    node.stop()
}
