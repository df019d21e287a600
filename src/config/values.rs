//! One setting's value: its flag, else its variable, else its default, parsed
//! and held within its bounds. Every message names the variable.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::{invalid, ConfigError, Env};

/// The setting `var`: its flag's value (clap also fills it from the process
/// environment), else the environment handed in.
pub(super) fn setting(flag: &Option<String>, env: &Env, var: &str) -> Option<String> {
    flag.clone().or_else(|| env.get(var).cloned())
}

/// The setting `var` parsed, `default` when unset.
pub(super) fn parse<T: FromStr>(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let text = setting(flag, env, var).unwrap_or_else(|| default.to_owned());
    text.trim()
        .parse()
        .map_err(|_| invalid(var, format!("expected {expected}, got `{text}`")))
}

/// The setting `var`, a whole number from 1 to `max` (`unit` for messages).
pub(super) fn bounded(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: u64,
    max: u64,
    unit: &str,
) -> Result<u64, ConfigError> {
    in_range(flag, env, var, default, 1..=max, unit)
}

/// The setting `var`, a whole number within `range`. A number too large even
/// to parse gets the same answer as one past the bound.
pub(super) fn in_range(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: u64,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    let (min, max) = (range.start(), range.end());
    let expected = format!("a whole number from {min} to {max} ({unit})");
    let v: u64 = parse(flag, env, var, &default.to_string(), &expected)?;
    if !range.contains(&v) {
        return Err(invalid(var, format!("expected {expected}, got `{v}`")));
    }
    Ok(v)
}

pub(super) fn parse_overrides(text: Option<&str>) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in text
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((ty, topic)) = entry.split_once('=') else {
            return Err(invalid(
                "GATEWAY_TOPIC_OVERRIDES",
                format!("expected TYPE=TOPIC, got `{entry}`"),
            ));
        };
        if map
            .insert(ty.trim().to_owned(), topic.trim().to_owned())
            .is_some()
        {
            return Err(invalid(
                "GATEWAY_TOPIC_OVERRIDES",
                format!("`{}` is given twice", ty.trim()),
            ));
        }
    }
    Ok(map)
}
