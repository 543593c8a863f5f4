//! Peer templates: settings written once under `templates:` and named by
//! peers (`template: tor`) and dynamic-neighbour ranges. A peer's own fields
//! win over its template's, field by field; the merged peer is validated
//! like any other, and a problem is reported where its setting was written.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::raw::RawPeer;

/// Lists every field of [`RawPeer`] but `address` and `template` once, for
/// the merge and for "did the peer set this itself". The struct literal in
/// `over` fails to compile if a field is missing here.
macro_rules! peer_settings {
    ($($field:ident),* $(,)?) => {
        impl RawPeer {
            /// `self` over `template`: each field the peer sets wins.
            fn over(&self, template: &RawPeer) -> RawPeer {
                let mut merged = RawPeer {
                    address: self.address.clone(),
                    template: None,
                    $($field: self.$field.clone().or_else(|| template.$field.clone()),)*
                };
                // One secret, two ways to give it: a peer's own
                // `password_file` replaces the template's `password`.
                if self.password.is_some() || self.password_file.is_some() {
                    merged.password = self.password.clone();
                    merged.password_file = self.password_file.clone();
                }
                merged
            }

            /// Whether the peer itself sets the field `name`.
            fn sets(&self, name: &str) -> bool {
                match name {
                    "address" => self.address.is_some(),
                    "template" => self.template.is_some(),
                    $(stringify!($field) => self.$field.is_some(),)*
                    _ => false,
                }
            }
        }
    };
}

peer_settings!(
    remote_as,
    description,
    kind,
    passive,
    port,
    local_address,
    interface,
    password,
    password_file,
    ttl_security,
    hold_time,
    keepalive,
    connect_retry,
    delay_open,
    families,
    add_path,
    extended_next_hop,
    route_reflector_client,
    next_hop_self,
    next_hop_ipv4,
    next_hop_ipv6,
    import,
    export,
    max_prefix,
    allowas_in,
    min_advertisement_interval,
    keep_received,
    graceful_restart,
);

/// Where a peer's settings were written, to name in a problem: its own
/// entry (`peers[0] (192.0.2.1)`), or for a field it takes from its
/// template, the template (`templates.tor`).
#[derive(Debug)]
pub(super) struct PeerAt<'a> {
    entry: String,
    template: Option<Template<'a>>,
}

#[derive(Debug)]
struct Template<'a> {
    name: &'a str,
    /// The peer as written, without its template.
    own: &'a RawPeer,
}

impl<'a> PeerAt<'a> {
    /// A peer, or a template, with no template behind it.
    pub(super) fn entry(entry: String) -> Self {
        PeerAt {
            entry,
            template: None,
        }
    }

    /// The peer as a whole.
    pub(super) fn whole(&self) -> &str {
        &self.entry
    }

    /// Its field `name` (`hold_time`, `add_path.receive`).
    pub(super) fn field(&self, name: &str) -> String {
        let top = name.split('.').next().unwrap_or(name);
        match &self.template {
            Some(t) if !t.own.sets(top) => format!("templates.{}.{name}", t.name),
            _ => format!("{}.{name}", self.entry),
        }
    }

    /// The template it names, if any.
    pub(super) fn template_name(&self) -> Option<&str> {
        self.template.as_ref().map(|t| t.name)
    }
}

/// `rp` merged over the template it names, with where each setting was
/// written; or the problem with the name, and where to report it.
pub(super) fn resolve<'a>(
    entry: String,
    rp: &'a RawPeer,
    templates: &'a BTreeMap<String, RawPeer>,
) -> Result<(Cow<'a, RawPeer>, PeerAt<'a>), (String, String)> {
    let Some(name) = rp.template.as_deref() else {
        return Ok((Cow::Borrowed(rp), PeerAt::entry(entry)));
    };
    let Some((name, template)) = templates.get_key_value(name) else {
        let known = if templates.is_empty() {
            "none are defined".to_string()
        } else {
            let names: Vec<&str> = templates.keys().map(String::as_str).collect();
            format!("defined: {}", names.join(", "))
        };
        return Err((
            format!("{entry}.template"),
            format!("template `{name}` is not defined under `templates` ({known})"),
        ));
    };
    let at = PeerAt {
        entry,
        template: Some(Template { name, own: rp }),
    };
    Ok((Cow::Owned(rp.over(template)), at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawAsn, RawDuration};

    fn tor() -> RawPeer {
        RawPeer {
            remote_as: Some(RawAsn::Number(65001)),
            hold_time: Some(9),
            password: Some("template-key".into()),
            connect_retry: Some(RawDuration::Seconds(5)),
            ..RawPeer::default()
        }
    }

    #[test]
    fn the_peer_wins_field_by_field() {
        let peer = RawPeer {
            address: Some("192.0.2.1".into()),
            template: Some("tor".into()),
            hold_time: Some(30),
            ..RawPeer::default()
        };
        let merged = peer.over(&tor());
        assert_eq!(merged.address.as_deref(), Some("192.0.2.1"));
        assert_eq!(merged.template, None);
        assert_eq!(merged.hold_time, Some(30));
        assert_eq!(merged.remote_as, Some(RawAsn::Number(65001)));
        assert_eq!(merged.password.as_deref(), Some("template-key"));
    }

    #[test]
    fn a_password_file_replaces_the_template_password() {
        let peer = RawPeer {
            password_file: Some("/etc/podroute/key".into()),
            ..RawPeer::default()
        };
        let merged = peer.over(&tor());
        assert_eq!(merged.password, None);
        assert_eq!(merged.password_file.as_deref(), Some("/etc/podroute/key"));
    }

    #[test]
    fn a_problem_is_placed_where_the_setting_was_written() {
        let peer = RawPeer {
            template: Some("tor".into()),
            hold_time: Some(2),
            ..RawPeer::default()
        };
        let templates = BTreeMap::from([("tor".to_string(), tor())]);
        let (_, at) = resolve("peers[0] (192.0.2.1)".into(), &peer, &templates).unwrap();
        assert_eq!(at.field("hold_time"), "peers[0] (192.0.2.1).hold_time");
        assert_eq!(at.field("connect_retry"), "templates.tor.connect_retry");
        assert_eq!(
            at.field("max_prefix.limit"),
            "templates.tor.max_prefix.limit"
        );
        assert_eq!(at.whole(), "peers[0] (192.0.2.1)");
    }
}
