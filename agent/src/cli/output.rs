//! Output plumbing shared by commands.

use std::io;

/// `podroute ... | head` closes the pipe early; that is not an error
/// (ripgrep and cargo exit quietly too).
pub(crate) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}
