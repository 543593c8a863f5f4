//! Output plumbing shared by commands.

use std::io;

use clap::ValueEnum;

/// `-o text|json`: a human printer and a JSON printer per command
/// (ripgrep's `standard` and `json` printers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

/// `podroute ... | head` closes the pipe early; that is not an error
/// (ripgrep and cargo exit quietly too).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// Wraps a write error so [`is_broken_pipe`] recognises it.
pub(crate) fn write_err(e: io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("writing output")
}

/// Writes a line, mapping I/O errors so a closed pipe is recognised.
macro_rules! outln {
    ($out:expr) => { writeln!($out).map_err($crate::cli::output::write_err) };
    ($out:expr, $($arg:tt)*) => { writeln!($out, $($arg)*).map_err($crate::cli::output::write_err) };
}
pub(crate) use outln;

/// Prints `text` as it is on standard output.
pub(crate) fn print_text(text: &str) -> anyhow::Result<std::process::ExitCode> {
    use std::io::Write;
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(write_err)?;
    Ok(std::process::ExitCode::SUCCESS)
}
