//! Start-up checks that span providers: unique names, types and secret
//! variables. The topics they land on together are checked where they are
//! computed, once (`engine::route::Topics`).

use std::collections::{BTreeMap, BTreeSet};

use super::check::{problem, Problem};
use super::compiled::Definition;

/// The rules across providers: unique names, types and secret variables. On a
/// conflict the later provider (the file's, as the built-ins come first) is named.
pub fn check_across(defs: &[Definition]) -> Result<(), (usize, Problem)> {
    let mut names = BTreeSet::new();
    let mut types = BTreeMap::new();
    let mut envs: BTreeMap<String, &str> = BTreeMap::new();
    for (i, d) in defs.iter().enumerate() {
        if !names.insert(d.name.as_str()) {
            return Err((i, problem("name", format!("`{}` is defined twice", d.name))));
        }
        for (j, e) in d.events.iter().enumerate() {
            if let Some(other) = types.insert(e.type_name.as_str(), d.name.as_str()) {
                return Err((
                    i,
                    problem(
                        format!("events[{j}].type"),
                        format!(
                            "`{}` is already a type of provider \"{other}\"",
                            e.type_name
                        ),
                    ),
                ));
            }
        }
        // `X` and `X_FILE` would read each other's variable.
        let env = &d.secret.env;
        let beside = d.key.as_ref().filter(|k| k.env != *env);
        let others = [
            ("key.env", beside),
            ("handshake_secret.env", d.handshake_secret.as_ref()),
        ];
        for (key, secret) in others {
            let Some(secret) = secret else { continue };
            for var in [secret.env.clone(), format!("{}_FILE", secret.env)] {
                if let Some(other) = envs.insert(var.clone(), &d.name) {
                    return Err((
                        i,
                        problem(key, format!("`{var}` is also provider \"{other}\"'s")),
                    ));
                }
            }
        }
        for var in [env.clone(), format!("{env}_FILE")] {
            if let Some(other) = envs.insert(var.clone(), &d.name) {
                return Err((
                    i,
                    problem(
                        "secret.env",
                        format!("`{var}` is also provider \"{other}\"'s secret"),
                    ),
                ));
            }
        }
        if let Some(base) = env.strip_suffix("_FILE") {
            if let Some(other) = envs.get(base) {
                return Err((
                    i,
                    problem(
                        "secret.env",
                        format!("`{env}` is the file variant of provider \"{other}\"'s secret"),
                    ),
                ));
            }
        }
    }
    Ok(())
}
