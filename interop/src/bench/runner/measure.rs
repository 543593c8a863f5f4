//! What the runner reads from `/proc`, and the statistics over repetitions.
//!
//! - [`usage`]: peak and current resident memory (`VmHWM`, `VmRSS` in
//!   `/proc/PID/status`) and CPU time (`utime + stime` in `/proc/PID/stat`, every thread of
//!   the process) summed over a target's processes. The PIDs are those of the daemons the
//!   runner started: `ip netns exec` execs the daemon, so the child's PID is the daemon's.
//! - [`wait_idle`]: between runs, waits until the machine is quiet again (a deleted
//!   namespace's million routes are freed by a kernel worker after `ip netns del` returns;
//!   a killed daemon's memory is returned meanwhile), so one run's clean-up does not land
//!   in the next run's figures.
//! - [`Summary`]: median, min and max of a metric over the repetitions.

use std::fs;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::process;

/// Memory and CPU of a set of processes at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Sum of `VmHWM` (peak resident set since each process started), KiB.
    pub hwm_kib: u64,
    /// Sum of `VmRSS` (resident set now), KiB.
    pub rss_kib: u64,
    /// Sum of user and system CPU time, seconds.
    pub cpu_s: f64,
}

/// Reads [`Usage`] summed over `pids`. Fails if a process is gone (a daemon that crashed
/// must not look lean).
pub fn usage(pids: &[u32]) -> Result<Usage> {
    let mut u = Usage::default();
    for pid in pids {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("read /proc/{pid}/status (has the daemon exited?)"))?;
        u.hwm_kib += status_kib(&status, "VmHWM")
            .ok_or_else(|| anyhow!("no VmHWM in /proc/{pid}/status"))?;
        u.rss_kib += status_kib(&status, "VmRSS")
            .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("read /proc/{pid}/stat"))?;
        u.cpu_s += cpu_ticks(&stat).with_context(|| format!("/proc/{pid}/stat"))? as f64
            / clock_ticks() as f64;
    }
    Ok(u)
}

/// A `Key:   1234 kB` line of `/proc/PID/status`.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `utime + stime` (fields 14 and 15) of `/proc/PID/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
fn cpu_ticks(stat: &str) -> Result<u64> {
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| anyhow!("no command name"))?;
    // Field 3 (state) is the first after the name: utime is field 14, 11 further on.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .ok_or_else(|| anyhow!("short stat line"))?
            .parse()
            .context("a CPU time field")
    };
    Ok(get(11)? + get(12)?)
}

/// `sysconf(_SC_CLK_TCK)` via `getconf CLK_TCK` (100 on Linux unless it says otherwise).
pub fn clock_ticks() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        process::run_checked(&["getconf", "CLK_TCK"], Duration::from_secs(5))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|t| *t > 0)
            .unwrap_or(100)
    })
}

/// Busy and total jiffies of all CPUs (`/proc/stat`, first line).
fn cpu_jiffies() -> Result<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat")?;
    let line = text
        .lines()
        .next()
        .filter(|l| l.starts_with("cpu "))
        .ok_or_else(|| anyhow!("/proc/stat has no cpu line"))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        bail!("/proc/stat: short cpu line {line:?}");
    }
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v[3] + v[4];
    Ok((total - idle, total))
}

/// The share of all CPUs busy over `window`.
pub fn busy_share(window: Duration) -> Result<f64> {
    let (b0, t0) = cpu_jiffies()?;
    thread::sleep(window);
    let (b1, t1) = cpu_jiffies()?;
    Ok((b1 - b0) as f64 / (t1 - t0).max(1) as f64)
}

/// Waits until the machine has been quiet (under `threshold` of all CPUs busy) for two
/// consecutive 250 ms windows, or `max` has passed. Returns how long it waited and whether
/// it got quiet.
pub fn wait_idle(max: Duration, threshold: f64) -> (Duration, bool) {
    let start = Instant::now();
    let mut quiet = 0;
    while start.elapsed() < max {
        match busy_share(Duration::from_millis(250)) {
            Ok(b) if b < threshold => {
                quiet += 1;
                if quiet >= 2 {
                    return (start.elapsed(), true);
                }
            }
            Ok(_) => quiet = 0,
            Err(_) => return (start.elapsed(), false),
        }
    }
    (start.elapsed(), false)
}

/// Median, minimum and maximum of one metric over the repetitions that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Summary {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        let status = "Name:\tbird\nVmPeak:\t  300 kB\nVmHWM:\t   96512 kB\nVmRSS:\t   90000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(96512));
        assert_eq!(status_kib(status, "VmRSS"), Some(90000));
        assert_eq!(status_kib(status, "VmSwap"), None);
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    1234 567 0 0 20 0 3 0 100 1000 10 18446744073709551615";
        assert_eq!(cpu_ticks(stat).unwrap(), 1234 + 567);
        assert!(cpu_ticks("1 (x) S 1 2").is_err());
        let me = usage(&[std::process::id()]).unwrap();
        assert!(me.hwm_kib >= me.rss_kib && me.rss_kib > 0);
    }

    #[test]
    fn summaries() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }
}
