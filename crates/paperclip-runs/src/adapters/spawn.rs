//! Running an agent's process, for every adapter that starts one: a clean environment, a process
//! group of its own that dies with the server, its output line by line (each line shown to the
//! adapter, then sent on), and the stop sequence — SIGTERM to the group, SIGKILL after the grace
//! period — on timeout or cancel. When the command exits, what it left in its group is killed.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use super::{NewEvent, Output, Sink, Stop, Stream};

/// Longest line kept whole; longer output is split (a line is also the unit of redaction).
const MAX_LINE: usize = 64 * 1024;

/// The variables of the server's own environment a run inherits (nothing else: the server's
/// environment holds the database URL and perhaps the master key).
pub const INHERITED: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL", "TERM",
];

/// What to start.
#[derive(Debug, Clone)]
pub struct Spawn {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    /// Text written to the process's stdin, then closed (`None`: stdin is empty).
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
    pub grace: Duration,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Exited,
    TimedOut,
    Cancelled,
}

/// The end of a process.
#[derive(Debug)]
pub struct Exit {
    pub how: How,
    pub status: std::io::Result<std::process::ExitStatus>,
}

impl Exit {
    /// The exit code and, when it was killed, the signal's name.
    pub fn code_and_signal(&self) -> (Option<i32>, Option<String>) {
        use std::os::unix::process::ExitStatusExt;
        match &self.status {
            Ok(s) => (s.code(), s.signal().map(signal_name)),
            Err(_) => (None, None),
        }
    }

    pub fn success(&self) -> bool {
        self.how == How::Exited
            && self
                .status
                .as_ref()
                .is_ok_and(std::process::ExitStatus::success)
    }
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_string())
}

/// Starts `spec` and streams its lines to `out` until it ends. `observe` sees each line first
/// and may answer run events for it (a transcript parser).
pub async fn run(
    spec: &Spawn,
    out: &Sink,
    mut stop: Stop,
    mut observe: impl FnMut(Stream, &str) -> Vec<NewEvent> + Send,
) -> std::io::Result<Exit> {
    let mut cmd = std::process::Command::new(&spec.program);
    cmd.args(&spec.args).env_clear();
    for k in INHERITED {
        if let Ok(v) = std::env::var(k) {
            cmd.env(k, v);
        }
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    let stdin = if spec.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    paperclip_sandbox::own_group_dying_with_server(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    let runtime = tokio::runtime::Handle::current();
    let mut child = paperclip_sandbox::spawn_on_stable_thread(move || {
        let _entered = runtime.enter();
        cmd.spawn()
    })?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| std::io::Error::other("the process exited at once"))?;
    let _ = out.send(Output::Spawned { pid }).await;
    if let (Some(text), Some(mut w)) = (spec.stdin.clone(), child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = w.write_all(text.as_bytes()).await;
        });
    }
    let (tx, mut lines) = mpsc::channel::<(Stream, String)>(256);
    tokio::spawn(pump(
        child.stdout.take().expect("piped"),
        Stream::Stdout,
        tx.clone(),
    ));
    tokio::spawn(pump(
        child.stderr.take().expect("piped"),
        Stream::Stderr,
        tx,
    ));
    let group = Pid::from_raw(pid);
    let deadline = async {
        match spec.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut ended: Option<Exit> = None;
    let mut streams_open = true;
    // Until the process has ended and both streams are drained.
    while ended.is_none() || streams_open {
        tokio::select! {
            line = lines.recv(), if streams_open => match line {
                Some((stream, text)) => forward(out, &mut observe, stream, text).await,
                None => streams_open = false,
            },
            s = child.wait(), if ended.is_none() => {
                ended = Some(Exit { how: How::Exited, status: s });
                // What it left in its group goes with it (it would hold the pipes open).
                let _ = killpg(group, Signal::SIGKILL);
            }
            () = &mut deadline, if ended.is_none() => {
                ended = Some(Exit { how: How::TimedOut, status: stop_group(&mut child, group, spec.grace).await });
            }
            () = async { let _ = stop.wait_for(|s| *s).await; }, if ended.is_none() => {
                ended = Some(Exit { how: How::Cancelled, status: stop_group(&mut child, group, spec.grace).await });
            }
        }
    }
    Ok(ended.expect("loop ends once ended"))
}

async fn forward(
    out: &Sink,
    observe: &mut (impl FnMut(Stream, &str) -> Vec<NewEvent> + Send),
    stream: Stream,
    text: String,
) {
    for e in observe(stream, &text) {
        let _ = out.send(Output::Event(e)).await;
    }
    let _ = out.send(Output::Line { stream, text }).await;
}

/// SIGTERM to the group, SIGKILL after `grace`; then everything left in it.
async fn stop_group(
    child: &mut tokio::process::Child,
    group: Pid,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    let _ = killpg(group, Signal::SIGTERM);
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(s) => s,
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            child.wait().await
        }
    };
    let _ = killpg(group, Signal::SIGKILL);
    status
}

/// Sends a stream's lines (lines over [`MAX_LINE`] are split).
async fn pump(r: impl AsyncRead + Unpin, stream: Stream, tx: mpsc::Sender<(Stream, String)>) {
    let mut reader = BufReader::with_capacity(MAX_LINE, r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line_bounded(&mut reader, &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if tx.send((stream, text)).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn read_line_bounded<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        let room = MAX_LINE - buf.len();
        let take = available.len().min(room);
        if let Some(i) = available[..take].iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&available[..=i]);
            r.consume(i + 1);
            return Ok(buf.len());
        }
        buf.extend_from_slice(&available[..take]);
        r.consume(take);
        if buf.len() >= MAX_LINE {
            return Ok(buf.len());
        }
    }
}
