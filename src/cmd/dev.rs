//! `--dev`: the gateway on an embedded broker with demo secrets (the broker,
//! the banner and the record viewer are [`crate::dev`]'s).

use rdkafka::mocking::MockCluster;

use super::{CmdError, Done, Outcome};
use crate::definitions::Definitions;
use crate::dev::{create_topics, dev_env, ignored_settings, serve};
use crate::http::server::StartError;
use crate::settings::{Config, Env, LogFormat, RunFlags, Settings};

pub fn run(flags: &RunFlags, env: &Env) -> Outcome {
    let mut settings = Settings::read(flags, env)?;
    // Made absolute for the printed commands, which may be pasted in another
    // directory.
    let file = settings
        .providers_file
        .take()
        .map(|f| std::fs::canonicalize(&f).unwrap_or(f));
    settings.providers_file = file.clone();
    let defs = Definitions::load(file.as_deref())?;
    let ignored = ignored_settings(env, &defs);
    if !ignored.is_empty() {
        return Err(CmdError::Usage(format!(
            "refusing to start: {} would be ignored (--dev uses an embedded broker and demo secrets); unset them, or run without --dev",
            ignored.join(", ")
        )));
    }
    let cluster = MockCluster::new(1)
        .map_err(|e| CmdError::Failed(format!("cannot start the embedded broker: {e}")))?;
    let bootstrap = cluster.bootstrap_servers();
    let config = Config::new(settings, &dev_env(env, &bootstrap, &defs))?;
    create_topics(&cluster, &config.published.topics.all())
        .map_err(|e| CmdError::Failed(e.to_string()))?;
    crate::init_logging(LogFormat::Text);

    let runtime = crate::runtime(config.settings.worker_threads);
    // The embedded broker lives on this thread's stack until the gateway has stopped.
    let served = runtime.block_on(serve(config, &bootstrap, &defs, file.as_deref()));
    drop(cluster);
    match served {
        Ok(()) => Ok(Done::Success),
        Err(StartError::Contract(e)) => Err(e.into()),
        Err(e) => Err(CmdError::Failed(e.to_string())),
    }
}
