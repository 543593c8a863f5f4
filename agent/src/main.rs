//! `podroute`: the node routing agent and its command-line tools.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
