//! A real S3-compatible server for storage tests: moto's server (`pip install 'moto[server]'`,
//! which `.ci/run` does), started once per test process on a free port and stopped when the
//! process exits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The process-wide S3 server.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    port: u16,
}

static SERVER: OnceLock<S3Server> = OnceLock::new();

/// The server, started on first use. Panics (naming the fix) when moto is not installed: a
/// storage test that quietly skipped would prove nothing.
pub fn s3_server() -> &'static S3Server {
    SERVER.get_or_init(start)
}

#[expect(
    clippy::zombie_processes,
    reason = "moto and its watchdog must outlive this call; the watchdog ends moto, init reaps both"
)]
fn start() -> S3Server {
    let port = crate::free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let pid = child.id();
    // The server must not outlive this test process, however it ends.
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.2; done; kill {pid} 2>/dev/null",
        me = std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watchdog");
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto's S3 server did not start on port {port}: install it with \
             `python3 -m pip install 'moto[server]'`"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    S3Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        port,
    }
}

impl S3Server {
    /// Creates a bucket (a fresh name per test keeps tests apart).
    pub fn create_bucket(&self, name: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to S3");
        write!(
            s,
            "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "cannot create bucket {name}: {answer}"
        );
    }

    /// The keys in a bucket (a plain ListObjectsV2, so tests can see what was left behind).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to S3");
        write!(
            s,
            "GET /{bucket}?list-type=2 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        answer
            .split("<Key>")
            .skip(1)
            .filter_map(|part| part.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}
