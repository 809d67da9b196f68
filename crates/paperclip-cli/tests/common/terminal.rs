//! The binary on a pseudo-terminal, as a person's shell runs it: script(1) gives it one, the
//! test types into it and reads what the screen would show.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::Instance;

/// A command running on a pseudo-terminal.
pub struct Terminal {
    child: Child,
    keys: ChildStdin,
    rx: Receiver<Vec<u8>>,
    /// Everything written to the terminal so far, escape sequences included.
    pub raw: Vec<u8>,
}

impl Instance {
    /// Runs `sh -c <line>` on a terminal, with this instance's environment and `$BIN` naming
    /// the binary. The shell prints its pid first: end `line` with `exec …` and that pid is the
    /// program's.
    pub fn on_terminal(&self, line: &str) -> Terminal {
        let mut child = self
            .command_of(
                "script",
                &["-qfec", &format!("echo PID=$$; {line}"), "/dev/null"],
            )
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let keys = child.stdin.take().unwrap();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Terminal {
            child,
            keys,
            rx,
            raw: Vec::new(),
        }
    }
}

impl Terminal {
    /// Waits (up to two minutes) until `text` has been written; panics with the screen if not.
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !String::from_utf8_lossy(&self.raw).contains(text) {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(chunk) => self.raw.extend(chunk),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("{text:?} never showed:\n{}", self.lines().join("\n"));
                }
            }
        }
    }

    /// Types a line, as a person answering a question.
    pub fn type_line(&mut self, line: &str) {
        self.keys.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// What the screen shows, line by line.
    pub fn lines(&self) -> Vec<String> {
        screen_lines(&self.raw)
    }

    /// SIGTERM to the program the shell exec'd; its exit status (through script's `-e`).
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid: i32 = self
            .lines()
            .iter()
            .find_map(|l| l.strip_prefix("PID="))
            .and_then(|p| p.parse().ok())
            .expect("the shell's pid");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.child.wait().unwrap()
    }

    /// Waits for the program to end by itself (its input closed); its exit status and screen.
    pub fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        drop(self.keys);
        let status = self.child.wait().unwrap();
        while let Ok(chunk) = self.rx.recv_timeout(Duration::from_secs(5)) {
            self.raw.extend(chunk);
        }
        (status, screen_lines(&self.raw))
    }
}

/// What a terminal shows for `raw`, line by line: escape sequences dropped, and of each line
/// only what follows its last carriage return (a redraw starts with one).
pub fn screen_lines(raw: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            plain.push(c);
        } else if chars.next_if_eq(&'[').is_some() {
            // CSI: parameters, then one final byte in @..~
            while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
        } else {
            chars.next();
        }
    }
    plain
        .split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or(l).trim().to_string()
        })
        .collect()
}
