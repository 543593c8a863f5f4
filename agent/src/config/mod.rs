//! The agent's configuration: one YAML file, read raw, validated once into
//! typed settings ([`Config`]). Unknown keys are errors, with their place.

mod raw;
mod reload;
mod validate;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bgp::speaker::{LocalRoute, PeerConfig, SpeakerConfig};

pub(crate) use reload::plan as reload_plan;
pub(crate) use validate::Host;

/// What `podroute agent` runs without `--config`.
pub(crate) const EMBEDDED_DEFAULT: &str = include_str!("default.yaml");

/// Where to accept BGP connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listen {
    pub(crate) port: u16,
    pub(crate) addresses: Vec<IpAddr>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) node: Option<String>,
    pub(crate) speaker: SpeakerConfig,
    pub(crate) peers: Vec<PeerConfig>,
    pub(crate) originate: Vec<LocalRoute>,
    pub(crate) listen: Listen,
    pub(crate) control_socket: PathBuf,
    /// Where the graceful-restart marker is kept between runs.
    pub(crate) state_dir: PathBuf,
}

/// Reads and validates `path`.
pub(crate) fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
    parse(&text, &Host::lookup()).with_context(|| format!("in {}", path.display()))
}

/// The embedded default, completed from this host's addresses.
pub(crate) fn embedded_default() -> anyhow::Result<Config> {
    parse(EMBEDDED_DEFAULT, &Host::lookup()).context("in the embedded default configuration")
}

pub(crate) fn parse(text: &str, host: &Host) -> anyhow::Result<Config> {
    let raw: raw::RawConfig = serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    match validate::validate(raw, host) {
        Ok(c) => Ok(c),
        Err(problems) => {
            let n = problems.0.len();
            let list = problems.0.join("\n  ");
            bail!(
                "{n} problem{} in the configuration:\n  {list}",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

impl Host {
    /// Reads the host's interface addresses.
    pub(crate) fn lookup() -> Host {
        Host {
            ipv4: crate::net::first_global_ipv4(),
        }
    }
}

#[cfg(test)]
mod tests;
