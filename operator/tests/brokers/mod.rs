//! Real `ferrimq` processes for operator tests: one NameServer and broker groups (masters only)
//! on free loopback ports, each broker named like the operator names group `g`
//! (`<cluster>-broker-<g>`), plus the official Java client scenarios of e2e/java/scenarios.
//!
//! The `ferrimq` binary is `FERRIMQ_BIN`, or built with `cargo build -p ferrimq-cli` into the
//! target directory of this test. Java and Maven are optional unless `FERRIMQ_REQUIRE_JAVA=1`.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A free port P whose neighbours (broker -2 "vip" and +1 HA ports) are free too, taken from
/// 10000..20000: below Linux's ephemeral range (32768..60999), so no `bind(0)` and no outgoing
/// connection can take a neighbour between the pick and the broker's bind. Successive calls
/// walk the range in steps of 4 from a pid-derived start.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const SLOTS: u32 = 2_500;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = std::process::id().wrapping_mul(2_654_435_761) % SLOTS;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..SLOTS {
        let port = (10_002 + (NEXT.fetch_add(1, Ordering::SeqCst) % SLOTS) * 4) as u16;
        if (port - 2..=port + 1).all(|p| TcpListener::bind(("0.0.0.0", p)).is_ok()) {
            return Ok(port);
        }
    }
    bail!("no free port quadruple in 10000..20000")
}

/// The `ferrimq` binary to run.
pub fn ferrimq_bin() -> anyhow::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("FERRIMQ_BIN") {
        return Ok(PathBuf::from(bin));
    }
    // <target>/debug/deps/<test binary>
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .context("test binary outside a target dir")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "-p", "ferrimq-cli", "--bin", "ferrimq"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("running cargo build -p ferrimq-cli")?;
    if !status.success() {
        bail!("cargo build -p ferrimq-cli failed");
    }
    Ok(target.join("debug/ferrimq"))
}

/// One process, killed on drop.
pub struct Process {
    child: Child,
    pub log: PathBuf,
}

impl Process {
    fn spawn(bin: &Path, args: &[String], log: PathBuf, port: u16) -> anyhow::Result<Self> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let process = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("port {port} not listening; log:\n{}", process.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(process)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A NameServer and `groups` broker masters named after cluster `cluster`.
pub struct Brokers {
    pub dir: tempfile::TempDir,
    pub namesrv_addr: String,
    pub namesrv: Process,
    pub brokers: Vec<Process>,
}

impl Brokers {
    pub fn start(cluster: &str, groups: i32) -> anyhow::Result<Self> {
        let bin = ferrimq_bin()?;
        let dir = tempfile::tempdir()?;
        let ns_port = free_port()?;
        let args = vec![
            "namesrv".to_string(),
            "--listen-port".to_string(),
            ns_port.to_string(),
            "--kv-config-path".to_string(),
            dir.path().join("kv.json").display().to_string(),
        ];
        let namesrv = Process::spawn(&bin, &args, dir.path().join("namesrv.log"), ns_port)?;
        let namesrv_addr = format!("127.0.0.1:{ns_port}");
        let mut brokers = Vec::new();
        for g in 0..groups {
            let port = free_port()?;
            let conf = dir.path().join(format!("broker-{g}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "brokerClusterName={cluster}\nbrokerName={cluster}-broker-{g}\nbrokerId=0\n\
                     brokerIP1=127.0.0.1\nlistenPort={port}\nhaListenPort={}\n\
                     namesrvAddr={namesrv_addr}\nstorePathRootDir={}\n\
                     autoCreateTopicEnable=false\nflushConsumerOffsetInterval=500\n",
                    port + 1,
                    dir.path().join(format!("store-{g}")).display()
                ),
            )?;
            let args = vec![
                "broker".to_string(),
                "-c".to_string(),
                conf.display().to_string(),
            ];
            let log = dir.path().join(format!("broker-{g}.log"));
            brokers.push(Process::spawn(&bin, &args, log, port)?);
        }
        Ok(Self {
            dir,
            namesrv_addr,
            namesrv,
            brokers,
        })
    }

    /// Every log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = format!("--- namesrv\n{}", tail(&self.namesrv.log_text()));
        for (g, b) in self.brokers.iter().enumerate() {
            out.push_str(&format!("--- broker {g}\n{}", tail(&b.log_text())));
        }
        out
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The scenario classpath for Java client `version`, or `None` without java/mvn (not required).
pub fn java_classpath(version: &str) -> anyhow::Result<Option<String>> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(runs("java", "-version") && runs("mvn", "-v")) {
        if std::env::var("FERRIMQ_REQUIRE_JAVA").as_deref() == Ok("1") {
            bail!("FERRIMQ_REQUIRE_JAVA=1 but java or mvn is not runnable");
        }
        eprintln!("java/mvn not found, skipping (set FERRIMQ_REQUIRE_JAVA=1 to require them)");
        return Ok(None);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/java-compat.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["scenario-classpath", version])
        .output()?;
    if !out.status.success() {
        bail!(
            "java-compat.sh scenario-classpath {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    Ok(stdout.lines().last().map(str::to_string))
}

/// Starts Java scenario `name` (group `<topic>_group`, files under `dir`), killed after 600 s.
pub fn spawn_scenario(
    classpath: &str,
    name: &str,
    namesrv: &str,
    topic: &str,
    dir: &Path,
) -> anyhow::Result<Child> {
    Ok(Command::new("timeout")
        .args(["600", "java", "-XX:+UseSerialGC", "-Xmx256m"])
        .arg("-Drocketmq.client.logUseSlf4j=false")
        .arg(format!("-Duser.home={}", dir.display()))
        .args(["-cp", classpath, "io.ferrimq.scenario.Scenario", name])
        .args(["--namesrv", namesrv, "--topic", topic])
        .args(["--group", &format!("{topic}_group"), "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?)
}
