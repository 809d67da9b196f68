//! Drives the real `paperclipai` binary against real PostgreSQL processes.
#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use paperclip_testkit::{cluster, free_port};

pub mod terminal;

pub const BIN: &str = env!("CARGO_BIN_EXE_paperclipai");

/// A throwaway instance (`PAPERCLIP_HOME` in a temp dir) plus extra environment.
pub struct Instance {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Instance {
    pub fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("paperclip-home-")
            .tempdir()
            .unwrap();
        Self {
            env: vec![
                ("PAPERCLIP_HOME".into(), home.path().display().to_string()),
                ("PORT".into(), "0".into()),
                (
                    "PAPERCLIP_EMBEDDED_POSTGRES_PORT".into(),
                    free_port().to_string(),
                ),
            ],
            home,
        }
    }

    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn root(&self) -> PathBuf {
        self.home.path().join("instances").join("default")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(BIN, args)
    }

    /// `program` with this instance's environment (a wrapper that runs the binary, which it
    /// finds as `$BIN`).
    pub fn command_of(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(self.home.path())
            .env("BIN", BIN)
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_MIGRATION_URL")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a command to completion.
    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs a command; panics with its output unless it succeeds; answers its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command expecting a refusal; answers its error text.
    pub fn refused(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(!out.status.success(), "{args:?} should fail");
        stderr(&out)
    }

    /// Starts `paperclipai run` and waits until it listens.
    pub fn start(&self) -> Server {
        self.try_start()
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Starts `paperclipai run`; `Err(log)` if it exits before listening.
    pub fn try_start(&self) -> Result<Server, String> {
        self.try_start_with(self.command(&["run"]))
    }

    /// Starts a command that becomes the server (`run`, `onboard`, or a wrapper that execs it).
    pub fn try_start_with(&self, mut cmd: Command) -> Result<Server, String> {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => Ok(Server { child, addr, log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().clone())
            }
        }
    }
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn health(&self) -> (u16, serde_json::Value) {
        let res = reqwest::get(self.url("/api/health")).await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    /// SIGINT, then waits; returns the exit code.
    pub fn stop(mut self) -> i32 {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// POSTs JSON to `/api{path}`; panics unless the answer is a success.
    /// An API call that must succeed; its JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut req = reqwest::Client::new().request(method, self.url(&format!("/api{path}")));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let _ = self.child.wait();
        }
    }
}

/// The embedded cluster's URL, from the instance's credentials file and config.
pub fn embedded_url(root: &Path) -> String {
    let creds: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("secrets/embedded-postgres.json")).unwrap(),
    )
    .unwrap();
    let pid = std::fs::read_to_string(root.join("db/postmaster.pid")).unwrap();
    let port = pid.lines().nth(3).unwrap().trim();
    format!(
        "postgres://{}:{}@127.0.0.1:{port}/paperclip",
        creds["user"].as_str().unwrap(),
        creds["password"].as_str().unwrap()
    )
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
