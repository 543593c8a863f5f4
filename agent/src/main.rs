//! `podroute`: the node routing agent and its command-line tools.

mod cli;
mod cluster;
mod config;
mod control;
mod daemon;
mod display;
mod fib;
mod file_ipam;
mod metrics;
mod net;
#[cfg(test)]
mod test_dir;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
