//! The JSON printer: the agent's answer as the control protocol has it
//! (`{"response": "neighbors", "neighbors": [...]}`), so scripts see the
//! same stable field names whatever the human printer does.

use std::io::Write;

use crate::cli::output::outln;
use crate::control::protocol::ResponseBody;

pub(crate) fn print(out: &mut impl Write, body: &ResponseBody) -> anyhow::Result<()> {
    outln!(out, "{}", serde_json::to_string_pretty(body)?)
}
