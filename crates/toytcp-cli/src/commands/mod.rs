//! The binary's subcommands that run on a real network: `connect`, `listen`
//! and `demo`.

pub mod demo;
pub mod net;

use std::fmt;

/// Why a command failed: one plain line for stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// The message, without the program name.
    pub message: String,
    /// The process exit status (1 runtime failure, 2 usage).
    pub code: u8,
}

impl Failure {
    /// A runtime failure (exit status 1).
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 1 }
    }

    /// A usage error (exit status 2, like clap's).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 2 }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
