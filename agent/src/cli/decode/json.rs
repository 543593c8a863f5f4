//! The JSON printer: one document, stable field names, for scripts.

use std::io::Write;

use bgp::wire::StreamItem;
use serde::Serialize;
use serde_json::json;

use super::{As4Source, Entry, Report, outln};

pub(super) fn print(out: &mut impl Write, report: &Report<'_>) -> anyhow::Result<()> {
    let ctx = &report.ctx;
    let fams = |s: bgp::types::FamilySet| s.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    let context = json!({
        "four_octet_as": ctx.four_octet_as,
        "four_octet_as_source": match report.as4 {
            As4Source::Flag => "flag",
            As4Source::Open => "open",
            As4Source::Default => "default",
        },
        "add_path": fams(ctx.add_path_receive),
        "extended_next_hop": fams(ctx.extended_next_hop_receive),
        "extended_message": ctx.extended_message,
    });
    let messages: Vec<serde_json::Value> =
        report.entries.iter().map(entry).collect::<Result<_, _>>()?;
    let doc = json!({ "context": context, "messages": messages, "hints": report.hints });
    outln!(out, "{}", serde_json::to_string_pretty(&doc)?)
}

fn entry(e: &Entry<'_>) -> anyhow::Result<serde_json::Value> {
    let mut v = json!({ "index": e.index, "offset": e.offset });
    let obj = v.as_object_mut().expect("object literal");
    match &e.item {
        StreamItem::Message { raw, result } => {
            obj.insert("length".into(), json!(raw.len()));
            match result {
                Ok(m) => {
                    obj.insert("message".into(), serde_json::to_value(m)?);
                    if let bgp::wire::Message::Update(u) = m
                        && let Some(f) = u.end_of_rib()
                    {
                        obj.insert("end_of_rib".into(), json!(f));
                    }
                }
                Err(err) => {
                    obj.insert("error".into(), error_json(err)?);
                    obj.insert("octets".into(), json!(hex::encode(raw)));
                }
            }
        }
        StreamItem::Truncated { raw, needed } => {
            obj.insert("length".into(), json!(raw.len()));
            obj.insert(
                "error".into(),
                json!({ "message": "incomplete message", "needed": needed }),
            );
            obj.insert("octets".into(), json!(hex::encode(raw)));
        }
        StreamItem::BadHeader { raw, error } => {
            obj.insert("length".into(), json!(raw.len()));
            obj.insert(
                "error".into(),
                json!({
                    "message": error.to_string(),
                    "action": bgp::wire::Action::SessionReset,
                    "notification": error.notification(),
                }),
            );
        }
    }
    Ok(v)
}

#[derive(Serialize)]
struct ErrorView<'a> {
    message: String,
    action: bgp::wire::Action,
    notification: bgp::wire::Notification,
    #[serde(skip_serializing_if = "Option::is_none")]
    faults: Option<&'a [bgp::wire::Malformation]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<&'a bgp::wire::Update>,
}

fn error_json(err: &bgp::wire::DecodeError) -> anyhow::Result<serde_json::Value> {
    let (faults, partial) = match err {
        bgp::wire::DecodeError::Update(u) => (Some(u.faults.as_slice()), u.update.as_ref()),
        _ => (None, None),
    };
    Ok(serde_json::to_value(ErrorView {
        message: err.to_string(),
        action: err.action(),
        notification: err.notification(),
        faults,
        partial,
    })?)
}
