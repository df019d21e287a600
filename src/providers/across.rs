//! Start-up checks that span providers: unique names, types and secret
//! variables, and the topics all the routed types land on together.

use std::collections::{BTreeMap, BTreeSet};

use super::check::{problem, Problem};
use super::compiled::Definition;
use super::rules::{check_topic_name, topic_name, DEADLETTER, UNROUTED};

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

/// Each routed type's topic (an override, else the entry's `topic`, else
/// `<prefix>.<type>`) is a legal Kafka name, and no two topics differ only by
/// `.` against `_` (Kafka refuses, or warns of colliding metric names).
pub fn check_topics(
    defs: &[Definition],
    prefix: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<(), (Option<usize>, Problem)> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut add = |topic: String, who: Option<usize>, key: String| {
        check_topic_name(&topic).map_err(|r| (who, problem(key.clone(), r)))?;
        let folded = topic.replace('.', "_");
        match seen.get(&folded) {
            Some(other) if *other != topic => Err((
                who,
                problem(
                    key,
                    format!("topic `{topic}` differs from `{other}` only by `.` against `_`"),
                ),
            )),
            _ => {
                seen.insert(folded, topic);
                Ok(())
            }
        }
    };
    for route in [UNROUTED, DEADLETTER] {
        add(
            topic_name(prefix, overrides, route, None),
            None,
            route.to_owned(),
        )?;
    }
    for (i, d) in defs.iter().enumerate() {
        for (j, e) in d.events.iter().enumerate() {
            let topic = topic_name(prefix, overrides, &e.type_name, e.topic.as_deref());
            add(topic, Some(i), format!("events[{j}].topic"))?;
        }
    }
    Ok(())
}
