//! Confining a child process between fork and exec.
//!
//! What a confined child gets, in order: the account (std's setgroups/setgid/setuid), its own
//! process group (so a stop can kill everything it started), a parent-death signal (it dies
//! with the server, even on kill -9), resource limits, then Landlock: read and execute beneath
//! the system folders and the paths the caller names, full access beneath its own data folder,
//! nothing else of the file system, no signals or abstract sockets outside its domain, and no
//! TCP when the caller says so. Its environment is exactly what the caller hands it.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use nix::sys::resource::{setrlimit, Resource};

use crate::{Account, Result, SandboxError};

// Landlock and the parent-death signal are Linux's; elsewhere the stubs report them missing.
#[cfg(target_os = "linux")]
#[path = "rules_linux.rs"]
mod rules;
#[cfg(not(target_os = "linux"))]
#[path = "rules_other.rs"]
mod rules;

/// Resource limits of a confined child (`None`: inherited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_AS: virtual memory, bytes.
    pub address_space_bytes: Option<u64>,
    /// RLIMIT_CPU: CPU seconds over the process's life (then SIGXCPU, then SIGKILL).
    pub cpu_seconds: Option<u64>,
    /// RLIMIT_NPROC: processes of the child's account (only meaningful for its own account).
    pub processes: Option<u64>,
    /// RLIMIT_NOFILE: open file descriptors.
    pub open_files: Option<u64>,
    /// RLIMIT_FSIZE: largest file it may write, bytes.
    pub file_size_bytes: Option<u64>,
}

/// Whether a confined child may use TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Allow,
    /// No TCP connect or bind (where the kernel's Landlock has network rules, ABI ≥ 4).
    DenyTcp,
}

/// What a confined child may reach.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Run as this account (Paperclip is root); `None`: the current account.
    pub account: Option<Account>,
    /// Read and execute beneath these paths (files or folders), besides the system folders.
    pub read_exec: Vec<PathBuf>,
    /// Full access beneath these folders.
    pub read_write: Vec<PathBuf>,
    pub network: Network,
    pub limits: Limits,
    /// The whole environment of the child.
    pub env: Vec<(String, String)>,
    /// Refuse to start the child when the kernel cannot enforce the file-system rules.
    pub require_landlock: bool,
}

/// Folders every program needs to start (interpreters, shared libraries, `/etc` for the
/// loader cache and time zones). Nothing under them is Paperclip's.
pub fn system_read_paths() -> Vec<PathBuf> {
    ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect()
}

/// How far Landlock is enforced on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LandlockSupport {
    /// Every right we ask for.
    Full,
    /// The rights of an older ABI (`abi`): files always, network and scopes from their ABIs on.
    Partial { abi: i32 },
    /// Not in this kernel (or not enabled): no file-system confinement.
    Unavailable,
}

impl LandlockSupport {
    pub fn enforced(self) -> bool {
        !matches!(self, Self::Unavailable)
    }
    pub fn describe(self) -> String {
        match self {
            Self::Full => "landlock".into(),
            Self::Partial { abi } => format!("landlock (kernel ABI {abi})"),
            Self::Unavailable => "none (kernel without Landlock)".into(),
        }
    }
}

/// Probes the kernel once: restricts a throwaway thread (Landlock applies per thread, and the
/// thread ends right after) and reads what was enforced.
pub fn landlock_support() -> LandlockSupport {
    static SUPPORT: OnceLock<LandlockSupport> = OnceLock::new();
    *SUPPORT.get_or_init(rules::probe)
}

/// Applies `policy` to `cmd`. Start the command with [`spawn_on_stable_thread`] so the
/// parent-death signal follows the server, not a short-lived thread.
pub fn confine(cmd: &mut Command, policy: &Policy) -> Result<()> {
    cmd.env_clear();
    cmd.envs(policy.env.iter().map(|(k, v)| (k, v)));
    if let Some(account) = &policy.account {
        account.apply(cmd);
    }
    cmd.process_group(0);
    let mut ruleset = Some(rules::prepare(policy).map_err(SandboxError::Landlock)?);
    let require = policy.require_landlock;
    let limits = limits(&policy.limits);
    let parent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child of a multi-threaded parent, where only
    // async-signal-safe work is sound. It only makes system calls (prctl, getppid, setrlimit,
    // landlock_restrict_self, close) on values built before the fork, and builds its errors
    // from raw OS codes: it neither allocates nor takes a lock.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            use std::io::Error;
            rules::die_with_parent().map_err(|e| Error::from_raw_os_error(e as i32))?;
            // The parent may have died between fork and prctl: then nobody would signal us.
            if nix::unistd::getppid() != parent {
                return Err(Error::from_raw_os_error(nix::libc::ESRCH));
            }
            for (resource, value) in limits.iter().flatten() {
                setrlimit(*resource, *value, *value)
                    .map_err(|e| Error::from_raw_os_error(e as i32))?;
            }
            if let Some(rs) = ruleset.take() {
                match rules::restrict(rs) {
                    Ok(false) if require => {
                        return Err(Error::from_raw_os_error(nix::libc::ENOSYS));
                    }
                    Ok(_) => {}
                    Err(()) => return Err(Error::from_raw_os_error(nix::libc::EPERM)),
                }
            }
            Ok(())
        });
    }
    Ok(())
}

/// For a process Paperclip starts but does not confine (an agent's own CLI, which needs its
/// working directory and the network): a process group of its own, so a cancel or timeout
/// reaches everything it started, and death with the server. Start it with
/// [`spawn_on_stable_thread`], as [`confine`]d commands.
pub fn own_group_dying_with_server(cmd: &mut Command) {
    cmd.process_group(0);
    let parent = nix::unistd::getpid();
    // SAFETY: as in `confine`: only prctl and getppid run in the forked child, on values built
    // before the fork; errors are raw OS codes.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            use std::io::Error;
            rules::die_with_parent().map_err(|e| Error::from_raw_os_error(e as i32))?;
            if nix::unistd::getppid() != parent {
                return Err(Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

type LimitList = [Option<(Resource, u64)>; 6];

fn limits(l: &Limits) -> LimitList {
    [
        l.address_space_bytes.map(|v| (Resource::RLIMIT_AS, v)),
        l.cpu_seconds.map(|v| (Resource::RLIMIT_CPU, v)),
        l.processes.map(|v| (Resource::RLIMIT_NPROC, v)),
        l.open_files.map(|v| (Resource::RLIMIT_NOFILE, v)),
        l.file_size_bytes.map(|v| (Resource::RLIMIT_FSIZE, v)),
        // No core dumps: a dump would hold whatever the worker had in memory.
        Some((Resource::RLIMIT_CORE, 0)),
    ]
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` (a `spawn`) on one thread that lives as long as the process.
///
/// Linux sends the parent-death signal when the *thread* that forked the child ends, not the
/// process; a child forked from a pool thread that retires when idle would be killed with it.
pub fn spawn_on_stable_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    static SPAWNER: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("paperclip-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("cannot start the spawner thread");
        std::sync::Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    spawner
        .lock()
        .expect("spawner lock")
        .send(job)
        .expect("the spawner thread never stops");
    rx.recv().expect("the spawner thread answers every job")
}
