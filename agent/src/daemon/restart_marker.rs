//! Knowing, at start, that this is a graceful restart (RFC 4724 §4.1): the
//! agent left a marker when it stopped gracefully, and the marker is still
//! within the restart time it promised its peers. Only then does the OPEN
//! carry the Restart State bit and best-path selection wait for the peers'
//! End-of-RIB; otherwise this is a cold start.
//!
//! The marker sits in the state directory (/run/podroute by default), so a
//! reboot, which loses the forwarding state, also loses the marker.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

const FILE: &str = "graceful-restart.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    /// Seconds since the Unix epoch when the agent stopped.
    stopped_at: u64,
    /// The restart time our peers were promised.
    restart_time: u16,
}

/// What the start found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    Cold,
    /// Restarting `after` the previous run stopped, within its restart time.
    Graceful {
        after: Duration,
    },
    /// There was a marker, but the peers have given up on us by now.
    TooLate {
        after: Duration,
        restart_time: u16,
    },
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads and removes the marker: it vouches for one restart only.
pub(crate) fn take(dir: &Path, now: SystemTime) -> Start {
    let p = path(dir);
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Start::Cold;
    };
    let _ = std::fs::remove_file(&p);
    let Ok(m) = serde_json::from_str::<Marker>(&text) else {
        return Start::Cold;
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let after = Duration::from_secs(now.saturating_sub(m.stopped_at));
    if now < m.stopped_at {
        // The clock went back: we cannot tell how long we were away.
        return Start::Cold;
    }
    if after.as_secs() < u64::from(m.restart_time) {
        Start::Graceful { after }
    } else {
        Start::TooLate {
            after,
            restart_time: m.restart_time,
        }
    }
}

/// Leaves the marker for the next start.
pub(crate) fn leave(dir: &Path, now: SystemTime, restart_time: u16) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let m = Marker {
        stopped_at: now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        restart_time,
    };
    let p = path(dir);
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&m)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &p).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("podroute-marker-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn no_marker_is_a_cold_start() {
        let d = dir("none");
        assert_eq!(take(&d, at(100)), Start::Cold);
    }

    #[test]
    fn a_marker_within_the_restart_time_is_used_once() {
        let d = dir("within");
        leave(&d, at(1000), 120).unwrap();
        assert_eq!(
            take(&d, at(1030)),
            Start::Graceful {
                after: Duration::from_secs(30)
            }
        );
        assert_eq!(
            take(&d, at(1031)),
            Start::Cold,
            "the marker vouches for one restart"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_marker_past_the_restart_time_is_too_late() {
        let d = dir("late");
        leave(&d, at(1000), 120).unwrap();
        assert_eq!(
            take(&d, at(1200)),
            Start::TooLate {
                after: Duration::from_secs(200),
                restart_time: 120
            }
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_clock_that_went_back_or_garbage_is_cold() {
        let d = dir("garbage");
        leave(&d, at(1000), 120).unwrap();
        assert_eq!(take(&d, at(900)), Start::Cold);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(path(&d), "not json").unwrap();
        assert_eq!(take(&d, at(900)), Start::Cold);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
