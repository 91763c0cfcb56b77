//! `descoberta serve` as a child process of a benchmark: started with its own data directory
//! and environment, waited for until ready, measured from /proc, killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct Service {
    child: Child,
    pub base: String,
    /// The admin token it was started with.
    pub admin: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts the service on `data_dir` (no metadata directory) with `env`; returns it and
    /// how long it took to be ready.
    pub fn start(data_dir: &Path, env: &[(String, String)]) -> anyhow::Result<(Service, Duration)> {
        let started = Instant::now();
        let empty = data_dir.join("no-metadata");
        std::fs::create_dir_all(&empty)?;
        let admin = format!(
            "bench-{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["--log-format", "json", "--bind", "127.0.0.1:0", "serve"])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--metadata-dir")
            .arg(&empty)
            .env("DESCOBERTA_ADMIN_TOKEN", &admin)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("starting the service")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                    && event["message"] == "descoberta ready"
                    && let Some(address) = event["address"].as_str()
                {
                    let _ = tx.send(address.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(900))
            .context("the service did not become ready")?;
        Ok((Service { child, base, admin }, started.elapsed()))
    }

    /// (peak RSS, current RSS) in MiB, from /proc.
    pub fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}
