//! Running the `ferrimq` admin/produce/consume subcommands as a user would: a child process per
//! command, stdout/stderr captured, `NAMESRV_ADDR` cleared so only `--namesrv` counts.
#![allow(dead_code)]

use std::process::Command;

use serde_json::Value;

/// Exit status and output of one `ferrimq` run.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn success(self, what: &str) -> String {
        assert!(
            self.ok,
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts success and parses stdout as one JSON document.
    pub fn json(self, what: &str) -> Value {
        let out = self.success(what);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: bad JSON ({e}):\n{out}"))
    }

    /// Asserts failure and returns stderr.
    pub fn failure(self, what: &str) -> String {
        assert!(
            !self.ok,
            "{what} should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stderr
    }
}

/// `ferrimq <args>`.
pub fn ferrimq(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrimq"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("running ferrimq");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ferrimq admin -n <namesrv> <args>`.
pub fn admin(namesrv: &str, args: &[&str]) -> Run {
    let mut all = vec!["admin", "-n", namesrv];
    all.extend_from_slice(args);
    ferrimq(&all)
}

/// `ferrimq <produce|consume> -n <namesrv> <args>`.
pub fn client(command: &str, namesrv: &str, args: &[&str]) -> Run {
    let mut all = vec![command, "-n", namesrv];
    all.extend_from_slice(args);
    ferrimq(&all)
}

/// Retries `check` every 200 ms for up to 15 s (broker re-registration is asynchronous).
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The body `ferrimq produce --size` generates for message `index`.
pub fn generated_body(index: usize, size: usize) -> String {
    let mut body = format!("{index} ");
    while body.len() < size {
        body.push('x');
    }
    body
}

/// `ferrimq admin topic create` of `topic` in DefaultCluster with `queues` read and write queues.
pub fn create_topic(ns: &str, topic: &str, queues: &str) {
    admin(
        ns,
        &[
            "topic",
            "create",
            "--topic",
            topic,
            "--cluster",
            "DefaultCluster",
            "--read-queues",
            queues,
            "--write-queues",
            queues,
        ],
    )
    .success("topic create");
}

/// `consume --json` output: one JSON object per line.
pub fn consumed(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
        .collect()
}
