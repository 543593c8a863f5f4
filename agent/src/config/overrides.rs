//! Settings given on the command line (or in the environment), put over
//! the file as written, before validation: a bad flag is then reported like
//! a bad key, and a SIGHUP reload puts them over the re-read file again.

use std::path::PathBuf;

use super::raw::{RawAsn, RawConfig, RawFib, RawListenOrOff, RawMetrics, RawNumberOrName};

/// What `podroute agent`'s flags say, as text: validation gives it meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    pub(crate) node_name: Option<String>,
    pub(crate) router_id: Option<String>,
    pub(crate) asn: Option<String>,
    /// Replaces the file's `pod_cidrs` as a whole.
    pub(crate) pod_cidrs: Option<Vec<String>>,
    pub(crate) metrics_listen: Option<String>,
    pub(crate) fib_protocol: Option<String>,
    pub(crate) no_fib: bool,
    pub(crate) control_socket: Option<PathBuf>,
    /// podroute's namespace (Secrets), from the downward API.
    pub(crate) namespace: Option<String>,
}

/// Which keys a flag set, so that a problem with one names the flag.
#[derive(Debug, Default)]
pub(crate) struct Applied(Vec<(&'static str, &'static str)>);

impl Applied {
    /// The flag behind the problem at `at` (`router_id`, `pod_cidrs[1]`,
    /// `fib.protocol`), if a flag set that key.
    pub(crate) fn flag_for(&self, at: &str) -> Option<&'static str> {
        self.0.iter().find_map(|(key, flag)| {
            let rest = at.strip_prefix(key)?;
            (rest.is_empty() || rest.starts_with(['.', '[', ' '])).then_some(*flag)
        })
    }
}

impl Overrides {
    pub(crate) fn apply(&self, raw: &mut RawConfig) -> Applied {
        let mut applied = Applied::default();
        let mut set = |key, flag| applied.0.push((key, flag));
        if let Some(n) = &self.node_name {
            raw.node = Some(n.clone());
            set("node", "--node-name");
        }
        if let Some(r) = &self.router_id {
            raw.router_id = Some(r.clone());
            set("router_id", "--router-id");
        }
        if let Some(a) = &self.asn {
            raw.asn = Some(RawAsn::Text(a.clone()));
            set("asn", "--asn");
        }
        if let Some(p) = &self.pod_cidrs {
            raw.pod_cidrs = p.clone();
            set("pod_cidrs", "--pod-cidr");
        }
        if let Some(m) = &self.metrics_listen {
            raw.metrics.get_or_insert_with(RawMetrics::default).listen =
                Some(RawListenOrOff::Text(m.clone()));
            set("metrics.listen", "--metrics-listen");
        }
        if let Some(p) = &self.fib_protocol {
            raw.fib.get_or_insert_with(RawFib::default).protocol =
                Some(RawNumberOrName::Name(p.clone()));
            set("fib.protocol", "--fib-protocol");
        }
        if self.no_fib {
            raw.fib.get_or_insert_with(RawFib::default).enabled = Some(false);
            set("fib.enabled", "--no-fib");
        }
        if let Some(s) = &self.control_socket {
            raw.control_socket = Some(s.clone());
            set("control_socket", "--socket");
        }
        // Only where the file turns Kubernetes on: the downward API sets
        // POD_NAMESPACE in every DaemonSet pod, with or without it.
        if let (Some(n), Some(k)) = (&self.namespace, raw.kubernetes.as_mut()) {
            k.namespace = Some(n.clone());
            set("kubernetes.namespace", "--namespace");
        }
        applied
    }
}
