//! Deciding whether a `postmaster.pid` belongs to a live postmaster of *this* data directory.
//!
//! Upstream trusted `kill(pid, 0)` alone, so a recycled PID (a browser, after a reboot) made it
//! "reuse" a server that did not exist, and a busy port made it start a second postmaster over
//! a live data directory. Here one function decides, with three outcomes, and on Linux the
//! proof is the process's working directory: a postmaster and all its backends `chdir` into the
//! data directory, and nothing else does.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{DbError, Result};

/// What the lock file and the process table say about the data directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    /// No postmaster and no process of this data directory.
    None,
    /// The lock file names a process that is gone or unrelated; no process of this data directory
    /// exists. PostgreSQL overwrites a lock file of a dead PID itself, but refuses one whose PID
    /// now belongs to an unrelated live process, so such a file is set aside (never deleted).
    Stale { pid: i32, pid_alive: bool },
    /// A live postmaster of this data directory (a crashed Paperclip's orphan).
    Live { pid: i32, port: Option<u16> },
    /// Processes of this data directory that we cannot account for: fail closed.
    Unknown { reason: String },
}

/// The fields of `postmaster.pid` we use (line 1 PID, line 4 port).
#[derive(Debug)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
}

impl PidFile {
    pub fn read(data_dir: &Path) -> Option<Self> {
        let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
        Some(Self { pid, port })
    }
}

/// Inspects the data directory's lock file and the processes using the directory.
pub fn inspect(data_dir: &Path) -> Existing {
    let canonical = fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let users = processes_in(&canonical);
    let pid_path = data_dir.join("postmaster.pid");
    if !pid_path.exists() {
        return if users.is_empty() {
            Existing::None
        } else {
            Existing::Unknown {
                reason: format!(
                    "processes {users:?} run in the data directory but there is no postmaster.pid (orphaned backends?); stop them first"
                ),
            }
        };
    }
    let Some(pid_file) = PidFile::read(data_dir) else {
        // Unreadable or truncated lock file: only stale if nobody uses the directory.
        return if users.is_empty() {
            Existing::Stale {
                pid: 0,
                pid_alive: false,
            }
        } else {
            Existing::Unknown {
                reason: format!(
                    "postmaster.pid is unreadable and processes {users:?} use the data directory"
                ),
            }
        };
    };
    let pid = pid_file.pid;
    if users.contains(&pid) {
        return Existing::Live {
            pid,
            port: pid_file.port,
        };
    }
    if !users.is_empty() {
        return Existing::Unknown {
            reason: format!(
                "postmaster.pid names PID {pid}, but processes {users:?} use the data directory; stop them first"
            ),
        };
    }
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => Existing::Stale {
            pid,
            pid_alive: false,
        },
        Ok(()) => match cwd_of(pid) {
            // Alive, and provably elsewhere: a recycled PID.
            Some(_) => Existing::Stale {
                pid,
                pid_alive: true,
            },
            None => Existing::Unknown {
                reason: format!(
                    "postmaster.pid names live PID {pid} whose working directory cannot be read; if it is not PostgreSQL, move postmaster.pid aside"
                ),
            },
        },
        Err(e) => Existing::Unknown {
            reason: format!("cannot check PID {pid} from postmaster.pid: {e}"),
        },
    }
}

/// Moves a stale lock file aside (kept for the record, never deleted).
pub fn set_aside_stale(data_dir: &Path) -> Result<PathBuf> {
    let from = data_dir.join("postmaster.pid");
    let to = data_dir.join(format!(
        "postmaster.pid.stale-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S")
    ));
    fs::rename(&from, &to).map_err(DbError::io("cannot move aside", &from))?;
    Ok(to)
}

/// Asks a postmaster for a fast shutdown and waits until the process is gone.
pub fn stop_pid(pid: i32, timeout: Duration) -> Result<()> {
    let p = Pid::from_raw(pid);
    let _ = kill(p, Signal::SIGINT);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(kill(p, None), Err(Errno::ESRCH)) || is_zombie(pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(DbError::Unsafe {
        data_dir: PathBuf::new(),
        reason: format!(
            "PostgreSQL (PID {pid}) did not stop within {}s",
            timeout.as_secs()
        ),
    })
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn cwd_of(pid: i32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// PIDs of processes whose working directory is `dir` (postmasters and their backends).
pub fn processes_in(dir: &Path) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| cwd_of(*pid).as_deref() == Some(dir) && !is_zombie(*pid))
        .collect();
    pids.sort_unstable();
    pids
}

/// Postmasters (processes in `dir` whose parent is not in `dir`) among [`processes_in`].
pub fn postmasters_in(dir: &Path) -> Vec<i32> {
    let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let all = processes_in(&canonical);
    all.iter()
        .copied()
        .filter(|pid| parent_of(*pid).is_none_or(|pp| !all.contains(&pp)))
        .collect()
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_file_naming_a_live_unrelated_process_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        // Our own PID is alive and its cwd is not the data directory.
        fs::write(
            dir.path().join("postmaster.pid"),
            format!("{}\n/x\n0\n54329\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(
            inspect(dir.path()),
            Existing::Stale {
                pid: std::process::id() as i32,
                pid_alive: true
            }
        );
        let moved = set_aside_stale(dir.path()).unwrap();
        assert!(moved.exists() && !dir.path().join("postmaster.pid").exists());
    }

    #[test]
    fn a_missing_lock_file_with_no_users_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(inspect(dir.path()), Existing::None);
    }
}
