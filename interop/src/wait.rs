//! Bounded polling.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// A probe error that ends a wait at once (e.g. the daemon being waited on has exited):
/// return `Err(Fatal(..).into())` from the probe.
#[derive(Debug)]
pub struct Fatal(pub String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// How often [`wait_until`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Calls `probe` every [`POLL_INTERVAL`] until it returns `Ok`, and returns that value. The
/// probe returns `Err` to say "not yet", with what it observed; if `timeout` passes first,
/// the error names `what` and carries the last observation. A [`Fatal`] error anywhere in the
/// probe's error chain stops the wait immediately.
///
/// ```
/// # use std::time::Duration;
/// let mut n = 0;
/// let v = interop::wait_until("n reaches 3", Duration::from_secs(5), || {
///     n += 1;
///     if n >= 3 { Ok(n) } else { anyhow::bail!("n is {n}") }
/// })
/// .unwrap();
/// assert_eq!(v, 3);
/// ```
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T>,
) -> Result<T> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let last = match probe() {
            Ok(v) => return Ok(v),
            Err(e) if e.chain().any(|c| c.is::<Fatal>()) => {
                bail!(
                    "gave up waiting for {what} after {:.1?}: {e:#}",
                    start.elapsed()
                )
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!(
                "timed out after {:.1?} waiting for {what}\nlast observed: {last:#}",
                start.elapsed()
            );
        }
        thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_out_with_last_observation() {
        let mut n = 0;
        let e = wait_until("never", Duration::from_millis(250), || -> Result<()> {
            n += 1;
            bail!("attempt {n}")
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("waiting for never"), "{e}");
        assert!(e.contains(&format!("attempt {n}")), "{e}");
    }

    #[test]
    fn fatal_ends_the_wait() {
        let t = Instant::now();
        let e = wait_until("x", Duration::from_secs(30), || -> Result<()> {
            Err(anyhow::Error::from(Fatal("daemon died".into())).context("probing"))
        })
        .unwrap_err()
        .to_string();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(e.contains("gave up waiting for x"), "{e}");
        assert!(e.contains("daemon died"), "{e}");
    }
}
