//! Secret rotation without restart: provider secrets read from `*_FILE` are
//! re-read when the file's content changes. Kubernetes updates a mounted
//! Secret by swapping a symlink, which file-change notifications on the file
//! itself miss; polling the content is simple and catches every update.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{key_ring, parse_secret_file, secret_file_error, Fingerprint, SecretSource};
use crate::ingest::Ingest;

/// Watches one provider's secret file until the task is aborted. `loaded` is
/// the fingerprint of what start-up read: any other content, even one already
/// there when the watcher first looks, is applied.
pub async fn watch(
    ingest: Arc<Ingest>,
    provider: String,
    path: PathBuf,
    loaded: Fingerprint,
    every: Duration,
) {
    // None while the file cannot be read, so a failure is reported once.
    let mut seen = Some(loaded);
    loop {
        tokio::time::sleep(every).await;
        let read = std::fs::read(&path);
        let now = read.as_ref().ok().map(|bytes| Fingerprint::of(bytes));
        if now == seen {
            continue;
        }
        seen = now;
        let Some(enabled) = ingest.enabled(&provider) else {
            return;
        };
        let keys = read
            .map_err(|e| secret_file_error(&path, e.kind()))
            .and_then(|bytes| parse_secret_file(&path, &bytes))
            .and_then(|secrets| key_ring(&enabled.definition, &secrets));
        match keys {
            Ok(keys) => {
                let count = keys.len();
                *enabled.keys.write().expect("keys lock") = Arc::new(keys);
                tracing::info!(provider, secrets = count, "secrets reloaded");
            }
            // The old secrets stay in force; the reason never includes file content.
            Err(reason) => {
                tracing::error!(provider, %reason, "secret reload failed; keeping the previous secrets")
            }
        }
    }
}

/// A watcher for every provider whose secrets come from a file, for the
/// caller to run until shutdown.
pub fn watchers(
    ingest: &Arc<Ingest>,
    config: &crate::config::Config,
) -> Vec<impl std::future::Future<Output = ()> + Send + 'static> {
    config
        .secrets
        .iter()
        .filter_map(|(name, s)| match &s.source {
            SecretSource::File(path, loaded) => Some(watch(
                ingest.clone(),
                name.clone(),
                path.clone(),
                *loaded,
                config.secret_reload,
            )),
            SecretSource::Env(_) => None,
        })
        .collect()
}
