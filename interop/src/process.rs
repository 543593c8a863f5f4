//! Processes the harness starts: long-running ones (daemons, later `podroute`) with their
//! output in a log file, and short commands with a time limit.
//!
//! Only PIDs of children this process spawned are ever signalled. A child is not reaped
//! (waited for) until it has been stopped, so its PID cannot be reused by another process
//! while we may still signal it.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

/// How long a stopped process gets between TERM and KILL unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// A signal the harness may send to a process it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: ask to exit.
    Term,
    /// SIGKILL: exit now.
    Kill,
    /// SIGHUP: GoBGP re-reads its configuration on it.
    Hup,
    /// SIGINT.
    Int,
}

impl Signal {
    fn raw(self) -> rustix::process::Signal {
        match self {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
            Signal::Hup => rustix::process::Signal::HUP,
            Signal::Int => rustix::process::Signal::INT,
        }
    }
}

/// A long-running child process whose stdout and stderr go to one log file. Dropping it stops
/// it (TERM, then KILL after [`DEFAULT_GRACE`]).
#[derive(Debug)]
pub struct Process {
    name: String,
    pid: u32,
    /// Locked only briefly (try_wait / wait / kill), never across a sleep.
    child: Mutex<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `argv` (used as is: wrap it in `ip netns exec NS` to run in a namespace; see
    /// `Node::spawn`) with stdin from /dev/null and stdout + stderr appended to `log`.
    pub fn spawn<S: AsRef<OsStr>>(name: &str, argv: &[S], log: &Path) -> Result<Process> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| anyhow!("{name}: empty command"))?;
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("{name}: open log {}", log.display()))?;
        let err = out.try_clone()?;
        let child = Command::new(prog)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("{name}: spawn {}", show_argv(argv)))?;
        Ok(Process {
            name: name.to_string(),
            pid: child.id(),
            child: Mutex::new(child),
            log: log.to_path_buf(),
        })
    }

    /// A short name for messages (e.g. `bgpd@frr`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The log file with the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether it is still running (reaps it if it has exited).
    pub fn is_running(&self) -> bool {
        self.try_status().is_none()
    }

    /// The exit status, if it has exited.
    pub fn try_status(&self) -> Option<ExitStatus> {
        // `Child` remembers the status once reaped; an error would mean someone else reaped
        // it, which cannot happen.
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    /// Fails with the exit status and log tail if the process has exited.
    pub fn ensure_running(&self) -> Result<()> {
        match self.try_status() {
            None => Ok(()),
            Some(s) => bail!(
                "{} (pid {}) exited: {s}\n--- last lines of {}:\n{}",
                self.name,
                self.pid(),
                self.log.display(),
                self.log_tail(30)
            ),
        }
    }

    /// Sends a signal if the process is still running.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        // Holding the lock: the child cannot be reaped (and its PID reused) meanwhile.
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        if !matches!(child.try_wait(), Ok(None)) {
            return Ok(());
        }
        let pid = i32::try_from(self.pid())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| anyhow!("{}: bad pid {}", self.name, self.pid()))?;
        rustix::process::kill_process(pid, signal.raw())
            .with_context(|| format!("{}: send {signal:?} to pid {pid:?}", self.name))
    }

    /// Stops the process: TERM, then KILL if it is still running after `grace`. Returns how it
    /// exited.
    pub fn stop(&self, grace: Duration) -> Result<ExitStatus> {
        if let Some(s) = self.try_status() {
            return Ok(s);
        }
        self.signal(Signal::Term)?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(s) = self.try_status() {
                return Ok(s);
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "interop: {} (pid {}) still running {grace:?} after TERM; sending KILL",
            self.name,
            self.pid()
        );
        self.signal(Signal::Kill)?;
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.wait().with_context(|| format!("{}: wait", self.name))
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Err(e) = self.stop(DEFAULT_GRACE) {
            eprintln!("interop: stopping {}: {e:#}", self.name);
        }
    }
}

/// The last `lines` lines of a file (at most the last 64 KiB are read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let start = len.saturating_sub(64 * 1024);
        f.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

/// Runs a command to completion, killing it (a child we started) if it takes longer than
/// `timeout`. Does not check the exit status.
pub fn run<S: AsRef<OsStr>>(argv: &[S], timeout: Duration) -> Result<Output> {
    let (prog, args) = argv.split_first().ok_or_else(|| anyhow!("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {}", show_argv(argv)))?;
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not finish within {timeout:?}", show_argv(argv));
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    })
}

/// Like [`run`], but fails (with both output streams) unless the command exits 0; returns
/// stdout.
pub fn run_checked<S: AsRef<OsStr>>(argv: &[S], timeout: Duration) -> Result<String> {
    let out = run(argv, timeout)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            show_argv(argv),
            out.status,
            out.stderr.trim_end(),
            if out.stdout.trim().is_empty() {
                String::new()
            } else {
                format!("\nstdout: {}", out.stdout.trim_end())
            }
        );
    }
    Ok(out.stdout)
}

/// A command line for messages.
pub fn show_argv<S: AsRef<OsStr>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| {
            let a = a.as_ref().to_string_lossy();
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_captures_and_times_out() {
        let out = run(
            &["sh", "-c", "echo hi; echo err >&2; exit 3"],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(run_checked(&["false"], Duration::from_secs(5)).is_err());
        let e = run(&["sleep", "5"], Duration::from_millis(100)).unwrap_err();
        assert!(e.to_string().contains("did not finish"), "{e}");
    }

    #[test]
    fn process_stops_with_term_then_kill() {
        let dir = std::env::temp_dir().join(format!("interop-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("p.log");
        // Ignores TERM, so only KILL ends it.
        let p = Process::spawn(
            "stubborn",
            &[
                "sh",
                "-c",
                "trap '' TERM; echo started; while :; do sleep 0.05; done",
            ],
            &log,
        )
        .unwrap();
        let t0 = Instant::now();
        while !log_tail(&log, 1).contains("started") {
            assert!(t0.elapsed() < Duration::from_secs(5), "never started");
            thread::sleep(Duration::from_millis(10));
        }
        assert!(p.is_running());
        let s = p.stop(Duration::from_millis(200)).unwrap();
        assert!(!s.success());
        assert!(!p.is_running());
        let q = Process::spawn("polite", &["sleep", "30"], &log).unwrap();
        let s = q.stop(Duration::from_secs(5)).unwrap();
        assert!(!s.success());
        assert!(q.ensure_running().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
