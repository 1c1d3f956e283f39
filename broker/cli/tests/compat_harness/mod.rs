//! Shared plumbing of the `compat_*` tests: `ferrimq` processes (standalone, or namesrv + broker) on
//! free loopback ports, and the client scenarios of e2e/java/scenarios run with the official
//! RocketMQ 4.9.8 or 5.3.3 Java client (`scripts/java-compat.sh scenario-classpath`).
//!
//! Without java/mvn the tests print a notice and pass, unless `FERRIMQ_REQUIRE_JAVA=1`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The two official client lines the suite runs.
pub const VERSIONS: [&str; 2] = ["4.9", "5.3"];

/// A free listening port (see `ports`: below the ephemeral range, neighbours free too).
pub fn free_port() -> Result<u16> {
    Ok(crate::ports::free_port()?)
}

/// A free port P for a broker whose neighbours are free too: the broker also binds P+1 (HA) and
/// P-2 (VIP channel).
pub fn free_broker_port() -> Result<u16> {
    Ok(crate::ports::broker_port()?)
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// One `ferrimq` process, SIGTERMed by [`Process::stop`] or killed when dropped.
pub struct Process {
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `ferrimq <args>` and waits until every port in `ports` accepts connections.
    pub fn spawn(args: &[String], log: PathBuf, ports: &[u16]) -> Result<Process> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()?;
        let process = Process {
            child: Some(child),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in ports {
            while !listening(port) {
                if Instant::now() > deadline {
                    return Err(
                        format!("port {port} not listening; log:\n{}", process.log()).into(),
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(process)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (30 s at most) for exit status 0.
    pub fn stop(mut self) -> Result<()> {
        let mut child = self.child.take().ok_or("already stopped")?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(exit) = child.try_wait()? {
                assert!(exit.success(), "exit status {exit}; log:\n{}", self.log());
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("no exit within 30 s of SIGTERM; log:\n{}", self.log()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL (a crash, not a shutdown).
    pub fn kill(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `ferrimq namesrv` and `ferrimq broker -c <conf>` as two processes on free ports; `conf` writes
/// the broker.conf for (dir, namesrv port, broker port). Returns (namesrv, broker, namesrv address).
pub fn spawn_namesrv_and_broker(
    dir: &Path,
    conf: impl FnOnce(&Path, u16, u16) -> Result<PathBuf>,
) -> Result<(Process, Process, String)> {
    let (namesrv_port, broker_port) = (free_port()?, free_broker_port()?);
    let namesrv = Process::spawn(
        &[
            "namesrv".into(),
            "--listen-port".into(),
            namesrv_port.to_string(),
        ],
        dir.join("namesrv.log"),
        &[namesrv_port],
    )?;
    let conf = conf(dir, namesrv_port, broker_port)?;
    let broker = Process::spawn(
        &["broker".into(), "-c".into(), conf.display().to_string()],
        dir.join("broker.log"),
        &[broker_port],
    )?;
    Ok((namesrv, broker, format!("127.0.0.1:{namesrv_port}")))
}

/// `ferrimq standalone` on a data dir and ports that survive restarts.
pub struct Standalone {
    pub dir: tempfile::TempDir,
    pub namesrv_port: u16,
    pub broker_port: u16,
}

impl Standalone {
    pub fn new() -> Result<Standalone> {
        Ok(Standalone {
            dir: tempfile::tempdir()?,
            namesrv_port: free_port()?,
            broker_port: free_broker_port()?,
        })
    }

    pub fn start(&self) -> Result<Process> {
        let args = [
            "standalone".to_owned(),
            "--dir".to_owned(),
            self.dir.path().join("data").display().to_string(),
            "--namesrv-port".to_owned(),
            self.namesrv_port.to_string(),
            "--broker-port".to_owned(),
            self.broker_port.to_string(),
        ];
        let log = self.dir.path().join("ferrimq.log");
        Process::spawn(&args, log, &[self.namesrv_port, self.broker_port])
    }

    pub fn namesrv(&self) -> String {
        format!("127.0.0.1:{}", self.namesrv_port)
    }
}

static CLASSPATHS: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);

/// The scenario classpath for client `version` ("4.9" or "5.3"), or None without java/mvn.
pub fn classpath(version: &str) -> Result<Option<String>> {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !(runs("java", "-version") && runs("mvn", "-v")) {
        if std::env::var("FERRIMQ_REQUIRE_JAVA").as_deref() == Ok("1") {
            return Err("FERRIMQ_REQUIRE_JAVA=1 but java or mvn is not runnable".into());
        }
        eprintln!(
            "compat: java/mvn not found, skipping (set FERRIMQ_REQUIRE_JAVA=1 to require it)"
        );
        return Ok(None);
    }
    let mut cache = CLASSPATHS.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(cp) = cache.get(version) {
        return Ok(Some(cp.clone()));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/java-compat.sh"))
        .args(["scenario-classpath", version])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "java-compat.sh scenario-classpath {version} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let cp = String::from_utf8(out.stdout)?
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    cache.insert(version.to_owned(), cp.clone());
    Ok(Some(cp))
}

/// A JVM with the scenario classpath of one client version.
pub struct Java {
    pub version: &'static str,
    pub classpath: String,
    pub home: PathBuf,
    pub props: Vec<String>,
}

impl Java {
    /// Java for `version`, or None when java/mvn are absent (and not required).
    pub fn new(version: &'static str, home: &Path) -> Result<Option<Java>> {
        Ok(classpath(version)?.map(|classpath| Java {
            version,
            classpath,
            home: home.to_owned(),
            props: Vec::new(),
        }))
    }

    /// `java <props> -cp <classpath> <main> <args>`, killed after 180 s.
    pub fn command(&self, main: &str) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["180", "java", "-XX:+UseSerialGC", "-Xmx256m"])
            .arg("-Drocketmq.client.logUseSlf4j=false")
            .arg(format!("-Duser.home={}", self.home.display()))
            .args(&self.props)
            .args(["-cp", &self.classpath, main]);
        cmd
    }

    /// Starts scenario `name` (group `<topic>_group`, files under `dir`) without waiting.
    pub fn spawn(&self, name: &str, namesrv: &str, topic: &str, dir: &Path) -> Result<Child> {
        Ok(self
            .command("io.ferrimq.scenario.Scenario")
            .args([name, "--namesrv", namesrv, "--topic", topic])
            .args(["--group", &format!("{topic}_group"), "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?)
    }

    /// Runs scenario `name` and asserts it printed `SCENARIO <name> OK <expected>`.
    pub fn scenario(
        &self,
        name: &str,
        namesrv: &str,
        topic: &str,
        dir: &Path,
        expected: usize,
    ) -> Result<()> {
        let child = self.spawn(name, namesrv, topic, dir)?;
        check_scenario(self.version, name, expected, child.wait_with_output()?)
    }

    /// Runs scenario `name`, asserts it succeeded and returns the count of its success line.
    pub fn scenario_count(
        &self,
        name: &str,
        namesrv: &str,
        topic: &str,
        dir: &Path,
    ) -> Result<usize> {
        let out = self.spawn(name, namesrv, topic, dir)?.wait_with_output()?;
        let prefix = format!("SCENARIO {name} OK ");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let count = stdout
            .lines()
            .find_map(|l| l.strip_prefix(&prefix)?.parse().ok());
        match count {
            Some(n) if out.status.success() => Ok(n),
            _ => check_scenario(self.version, name, usize::MAX, out).map(|()| 0),
        }
    }
}

/// Asserts the exact success line of a finished scenario.
pub fn check_scenario(version: &str, name: &str, expected: usize, out: Output) -> Result<()> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = format!("SCENARIO {name} OK {expected}");
    if out.status.success() && stdout.lines().any(|l| l == want) {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().take(40).collect();
    Err(format!(
        "client {version} scenario {name} ({}), wanted '{want}':\n{stdout}\n{}",
        out.status,
        tail.join("\n")
    )
    .into())
}

/// A topic/group name unique to a scenario and client version.
pub fn topic(scenario: &str, version: &str) -> String {
    format!("Compat_{scenario}_{}", version.replace('.', ""))
}

/// ROCKETMQ_HOME with the conf/logback_tools.xml that the 4.9 MQAdminStartup insists on loading.
pub fn tools_home(dir: &Path) -> Result<PathBuf> {
    let home = dir.join("rocketmq-home");
    std::fs::create_dir_all(home.join("conf"))?;
    std::fs::write(
        home.join("conf/logback_tools.xml"),
        "<configuration><root level=\"OFF\"/></configuration>\n",
    )?;
    Ok(home)
}

/// Runs the official `mqadmin <args> -n <namesrv>` and returns its stdout (asserting exit 0 and
/// no exception on either stream).
pub fn mqadmin(java: &Java, home: &Path, namesrv: &str, args: &[&str]) -> Result<String> {
    let out = java
        .command("org.apache.rocketmq.tools.command.MQAdminStartup")
        .env("ROCKETMQ_HOME", home)
        .args(args)
        .args(["-n", namesrv])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stdout.contains("Exception") || stderr.contains("Exception") {
        return Err(format!("mqadmin {args:?} ({}):\n{stdout}\n{stderr}", out.status).into());
    }
    Ok(stdout)
}
