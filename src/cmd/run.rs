//! The gateway itself: its settings, the providers' secrets and the
//! producer's properties from the flags and the environment, served until
//! SIGTERM or SIGINT.

use super::{Done, Outcome};
use crate::http::server::StartError;
use crate::settings::{Config, Env, RunFlags, Settings};

pub fn run(flags: &RunFlags, env: &Env) -> Outcome {
    let config = Config::new(Settings::read(flags, env)?, env)?;
    crate::init_logging(config.settings.log_format);
    let runtime = crate::runtime(config.settings.worker_threads);
    match runtime.block_on(crate::run(config, shutdown_signal())) {
        Ok(()) => Ok(Done::Success),
        // A `schema:` file of a definition is part of the configuration.
        Err(StartError::Contract(e)) => Err(e.into()),
        Err(e) => {
            // Logged as every other line of the gateway is (LOG_FORMAT).
            tracing::error!("{e}");
            Ok(Done::Failure)
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
