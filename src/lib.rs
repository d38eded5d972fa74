//! pwreset: reset other people's passwords safely, from the command line.
//!
//! The library holds everything; `main.rs` only calls [`run`]. Domain modules (`store`, `users`,
//! `audit`, `config`, `settings`) know nothing about terminals; `cli`, `ui` and `output` do.

pub mod audit;
pub mod bulk;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod exit;
pub mod generate;
pub mod links;
pub mod mail;
pub mod notice;
pub mod output;
pub mod password;
pub mod secret;
pub mod settings;
pub mod store;
pub mod templates;
pub mod timefmt;
pub mod tokens;
pub mod ui;
pub mod users;

/// Run pwreset with the process's arguments and return its exit code.
pub fn run() -> std::process::ExitCode {
    cli::run(std::env::args_os())
}
