//! The commands, one module each: the gateway itself ([`run`]), `--dev`
//! ([`dev`]) and the subcommands. Each is the shell around its logic: it
//! reads its settings from the flags and the environment map it is handed,
//! builds its runtime, prints what it has to say, and returns how it ended
//! as an [`Outcome`]. main turns that into the exit status, in one place.

pub mod cli;
pub mod contract;
pub mod dev;
pub mod providers;
pub mod redrive;
pub mod run;
pub mod sign;
pub mod topics;

use crate::cmd::cli::{Cli, Command};
use crate::definitions::DefinitionError;
use crate::settings::{ConfigError, Env};

/// How a command ended: main's only input for the exit status.
pub type Outcome = Result<Done, CmdError>;

/// A command that ran to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Exit 0.
    Success,
    /// Exit 1: what it found is not as it should be (a missing topic, a
    /// change that breaks consumers, a re-drive that stopped), and it has
    /// said so.
    Failure,
}

/// Why a command stopped early: one line, which main prints after the
/// command's name ([`name`]).
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// A setting, a secret or a definitions file: exit 64.
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    /// Arguments this configuration cannot honour: exit 64.
    #[error("{0}")]
    Usage(String),
    /// What the command works with failed (the broker, the embedded broker,
    /// the listeners): exit 1.
    #[error("{0}")]
    Failed(String),
}

impl From<DefinitionError> for CmdError {
    fn from(e: DefinitionError) -> CmdError {
        CmdError::Config(e.into())
    }
}

/// Runs the command `cli` names, `env` its environment.
pub fn run(cli: Cli, env: &Env) -> Outcome {
    match cli.command {
        Some(Command::Sign(args)) => sign::run(args, env),
        Some(Command::Topics(args)) => topics::run(args, env),
        Some(Command::Providers(args)) => providers::run(args, env),
        Some(Command::Contract(args)) => contract::run(args, env),
        Some(Command::Redrive(args)) => redrive::run(args, env),
        None if cli.run.dev => dev::run(&cli.run, env),
        None => run::run(&cli.run, env),
    }
}

/// The command as its messages name it: `webhook-gateway`, `webhook-gateway
/// --dev`, `webhook-gateway topics`, ...
pub fn name(cli: &Cli) -> &'static str {
    match cli.command {
        Some(Command::Sign(_)) => "webhook-gateway sign",
        Some(Command::Topics(_)) => "webhook-gateway topics",
        Some(Command::Providers(_)) => "webhook-gateway providers",
        Some(Command::Contract(_)) => "webhook-gateway contract",
        Some(Command::Redrive(_)) => "webhook-gateway redrive",
        None if cli.run.dev => "webhook-gateway --dev",
        None => "webhook-gateway",
    }
}
