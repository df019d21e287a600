//! The binary: reads the command line (exit 64 on a bad one, or on bad
//! settings), then runs the gateway or one subcommand until a signal.

use std::process::ExitCode;

use webhook_gateway::cli::{Cli, Command};
use webhook_gateway::config::{refused_setting, Config, Env};
use webhook_gateway::server::StartError;
use webhook_gateway::EX_USAGE;

fn main() -> ExitCode {
    let cli = match Cli::from_process() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            match refused_setting(&e) {
                // One line naming the setting, as for any other bad setting.
                Some(setting) => eprintln!("webhook-gateway: configuration error: {setting}"),
                None => {
                    let _ = e.print();
                }
            }
            return ExitCode::from(EX_USAGE);
        }
    };
    let env: Env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();

    match cli.command {
        Some(Command::Sign(args)) => printed("sign", webhook_gateway::sign::main(args, &env)),
        Some(Command::Topics(args)) => webhook_gateway::topics::main(args, &env),
        Some(Command::Providers(args)) => printed(
            "providers",
            webhook_gateway::providers::show::main(args, &env),
        ),
        Some(Command::Contract(args)) => webhook_gateway::contract::main(args, &env),
        Some(Command::Redrive(args)) => webhook_gateway::redrive::main(args, &env),
        None if cli.run.dev => webhook_gateway::dev::main(cli.run, env),
        None => {
            let config = match Config::from_sources(&cli.run, &env) {
                Ok(config) => config,
                Err(e) => {
                    eprintln!("webhook-gateway: configuration error: {e}");
                    return ExitCode::from(EX_USAGE);
                }
            };
            webhook_gateway::init_logging(config.log_format);
            let runtime = webhook_gateway::runtime(config.worker_threads);
            match runtime.block_on(webhook_gateway::run(config, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                // A `schema:` file of a definition is part of the configuration.
                Err(StartError::Contract(e)) => {
                    eprintln!("webhook-gateway: configuration error: {e}");
                    ExitCode::from(EX_USAGE)
                }
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// A subcommand that prints its output, or one line on stderr and `EX_USAGE`.
fn printed(command: &str, result: Result<String, impl std::fmt::Display>) -> ExitCode {
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("webhook-gateway {command}: {e}");
            ExitCode::from(EX_USAGE)
        }
    }
}

/// SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
