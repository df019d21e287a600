//! Secret rotation without restart: provider secrets read from `*_FILE` are
//! re-read when the file's content changes. Kubernetes updates a mounted
//! Secret by swapping a symlink, which file-change notifications on the file
//! itself miss; polling the content is simple and catches every update.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::provider::Provider;
use crate::settings::{key_ring, parse_secret_file, secret_file_error, Fingerprint, SecretSource};

/// Watches one provider's secret file until the task is aborted. `loaded` is
/// the fingerprint of what start-up read: any other content, even one already
/// there when the watcher first looks, is applied.
pub async fn watch(provider: Arc<Provider>, path: PathBuf, loaded: Fingerprint, every: Duration) {
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
        let keys = read
            .map_err(|e| secret_file_error(&path, e.kind()))
            .and_then(|bytes| parse_secret_file(&path, &bytes))
            .and_then(|secrets| key_ring(&provider.definition, &secrets));
        let name = provider.name();
        match keys {
            Ok(keys) => {
                let count = keys.len();
                // The keys beside the secrets come from another variable.
                let keys = match provider.keys().as_deref() {
                    Some(current) => keys.keeping_keys_of(current),
                    None => keys,
                };
                provider.set_keys(keys);
                tracing::info!(provider = name, secrets = count, "secrets reloaded");
            }
            // The old secrets stay in force; the reason never includes file content.
            Err(reason) => {
                tracing::error!(provider = name, %reason, "secret reload failed; keeping the previous secrets")
            }
        }
    }
}

/// A watcher for every enabled provider whose secrets come from a file, for
/// the caller to run until shutdown.
pub fn watchers(
    providers: &[Arc<Provider>],
    config: &crate::settings::Config,
) -> Vec<impl std::future::Future<Output = ()> + Send + 'static> {
    providers
        .iter()
        .filter_map(|p| match &config.secrets.get(p.name())?.source {
            SecretSource::File(path, loaded) => Some(watch(
                p.clone(),
                path.clone(),
                *loaded,
                config.settings.secret_reload,
            )),
            SecretSource::Env(_) => None,
        })
        .collect()
}
