//! What `/proc` says about a run's processes: the kernel start time that identifies a process
//! beyond its pid, and the members of a lost run's process group (a server killed with -9 takes
//! the group leader with it through the parent-death signal, but not what the leader started).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The start time of `pid` in clock ticks since boot, if it is alive.
pub fn start_ticks(pid: i32) -> Option<i64> {
    stat(pid).map(|s| s.1)
}

/// (process group, start ticks) from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(i32, i64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 5 (pgrp) and 22 (starttime), counted from 1 with pid and comm as 1 and 2.
    Some((fields.get(2)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Kills every process of group `pgid` that started no earlier than the run's leader did
/// (`since`): a process that is older cannot be the run's, whatever its group says.
pub fn kill_group_members(pgid: i32, since: i64) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some((group, started)) = stat(pid) {
            if group == pgid
                && started >= since
                && kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()
            {
                killed += 1;
            }
        }
    }
    killed
}

/// This machine's name (runs record where their process lives).
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_own_process_has_a_start_time() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(super::start_ticks(me).is_some());
        assert!(super::start_ticks(i32::MAX).is_none());
    }
}
