//! How a setting's text becomes its typed value: the [`Setting`] type that
//! holds a variable, its default and its reader, and the readers settings share.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use super::{invalid, ConfigError};

/// One run setting: its variable, its default, and how its text is read.
/// The flag is written on its `RunArgs` field; clap's attributes take the rest
/// from here, so `--help`, the resolver and the tests read one definition.
pub struct Setting<T> {
    /// The environment variable; every error names it, flag or not.
    pub var: &'static str,
    /// As `--help` shows it; `None` when unset means "none".
    pub default: Option<&'static str>,
    read: fn(&str) -> Result<T, String>,
}

impl<T: Clone + Send + Sync + 'static> Setting<T> {
    pub const fn new(
        var: &'static str,
        default: Option<&'static str>,
        read: fn(&str) -> Result<T, String>,
    ) -> Self {
        Setting { var, default, read }
    }

    /// clap's `value_parser`: a value that does not read is a [`ConfigError`]
    /// naming the variable, which [`refused_setting`] finds again.
    pub fn parser(&self) -> impl Fn(&str) -> Result<T, ConfigError> + Clone + Send + Sync {
        let (var, read) = (self.var, self.read);
        move |text| read(text).map_err(|reason| invalid(var, reason))
    }
}

/// `#[arg(setting = &X, value_parser = X.parser())]` on a `RunArgs` field:
/// clap's derive calls any builder method by name, so this gives the flag its
/// variable (value hidden from `--help`) and its default. The reader is named
/// apart because the derive infers one from the field's type unless told.
pub trait SettingArg {
    fn setting<T: Clone + Send + Sync + 'static>(self, setting: &Setting<T>) -> Self;
}

impl SettingArg for clap::Arg {
    fn setting<T: Clone + Send + Sync + 'static>(self, setting: &Setting<T>) -> Self {
        self.env(setting.var)
            .hide_env_values(true)
            .default_value(setting.default)
            // The derive makes a field without `Option` required, not seeing this default.
            .required(false)
    }
}

/// A whole number within `range` (`unit` for the message). A number too large
/// even to parse gets the same answer as one past the bound.
pub fn whole(text: &str, range: RangeInclusive<u64>, unit: &str) -> Result<u64, String> {
    let expected = || {
        let (min, max) = (range.start(), range.end());
        format!("expected a whole number from {min} to {max} ({unit}), got `{text}`")
    };
    match text.trim().parse() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(expected()),
    }
}

/// A socket address, `example` shown when it is not one.
pub fn socket_addr(text: &str, example: &str) -> Result<std::net::SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("expected a socket address such as {example}, got `{text}`"))
}

/// Comma-separated `TYPE=TOPIC` entries, each type once.
pub fn overrides(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((ty, topic)) = entry.split_once('=') else {
            return Err(format!("expected TYPE=TOPIC, got `{entry}`"));
        };
        if map
            .insert(ty.trim().to_owned(), topic.trim().to_owned())
            .is_some()
        {
            return Err(format!("`{}` is given twice", ty.trim()));
        }
    }
    Ok(map)
}

/// The setting clap refused, when a reader refused it: its [`ConfigError`].
pub fn refused_setting(e: &clap::Error) -> Option<&ConfigError> {
    std::error::Error::source(e)?.downcast_ref()
}
