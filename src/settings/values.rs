//! How a setting's text becomes its typed value: the [`Setting`] type that
//! holds a variable, its flag, its default and its reader, and the readers
//! settings share.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;

use super::{invalid, ConfigError, Env};

/// One run setting: its variable, its flag, its default, and how its text is
/// read. `--help`, docs/configuration.md's table and [`super::Settings::read`]
/// all take them from here.
pub struct Setting<T> {
    /// The environment variable; every error names it, flag or not.
    pub var: &'static str,
    /// The long flag, without its `--`.
    pub flag: &'static str,
    /// As `--help` shows it; `None` when unset means "none".
    pub default: Option<&'static str>,
    read: fn(&str) -> Result<T, ValueError>,
}

impl<T> Setting<T> {
    pub const fn new(
        var: &'static str,
        flag: &'static str,
        default: Option<&'static str>,
        read: fn(&str) -> Result<T, ValueError>,
    ) -> Self {
        Setting {
            var,
            flag,
            default,
            read,
        }
    }

    /// The value from `flag` (its text on the command line), else from the
    /// variable in `env`, else its default; `None` when none of them is set.
    /// A text that does not read is refused naming the variable.
    pub fn optional(&self, flag: Option<&str>, env: &Env) -> Result<Option<T>, ConfigError> {
        self.read(flag, env, self.default)
    }

    /// As [`Setting::optional`], for a setting that has a default.
    pub fn value(&self, flag: Option<&str>, env: &Env) -> Result<T, ConfigError> {
        self.value_or(flag, env, None)
    }

    /// As [`Setting::value`], `default` (`--dev`'s) replacing its own.
    pub fn value_or(
        &self,
        flag: Option<&str>,
        env: &Env,
        default: Option<&str>,
    ) -> Result<T, ConfigError> {
        self.read(flag, env, default.or(self.default))?
            .ok_or_else(|| invalid(self.var, "required"))
    }

    fn read(
        &self,
        flag: Option<&str>,
        env: &Env,
        default: Option<&str>,
    ) -> Result<Option<T>, ConfigError> {
        let text = flag
            .or_else(|| env.get(self.var).map(String::as_str))
            .or(default);
        text.map(|text| (self.read)(text).map_err(|e| self.refused(e)))
            .transpose()
    }

    /// A text this setting's reader refused, as the error naming its variable.
    fn refused(&self, e: ValueError) -> ConfigError {
        invalid(self.var, e.to_string())
    }

    /// What `--help` and docs/configuration.md show of it.
    pub const fn documented(&self) -> Documented {
        Documented {
            var: self.var,
            flag: self.flag,
            default: self.default,
        }
    }
}

/// A setting as `--help` and docs/configuration.md show it: its variable,
/// its flag and its default (`None`: "none").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documented {
    pub var: &'static str,
    pub flag: &'static str,
    pub default: Option<&'static str>,
}

/// `#[arg(setting = &X)]` on a `RunFlags` field: clap's derive calls any
/// builder method by name, so this gives the flag its name and adds the
/// variable and the default to its help, as clap would show them. clap itself
/// never reads the variable: [`super::Settings::read`] does, from the map.
pub trait SettingArg {
    fn setting<T>(self, setting: &Setting<T>) -> Self;
}

impl SettingArg for clap::Arg {
    fn setting<T>(self, setting: &Setting<T>) -> Self {
        let mut help = self.get_help().map(ToString::to_string).unwrap_or_default();
        help.push_str(&format!(" [env: {}]", setting.var));
        if let Some(default) = setting.default {
            help.push_str(&format!(" [default: {default}]"));
        }
        self.long(setting.flag).help(help)
    }
}

/// Why a setting's text does not read as its value: the reason alone, which
/// [`Setting`] turns into a [`ConfigError`] naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("expected a whole number from {min} to {max} ({unit}), got `{text}`")]
    Whole {
        min: u64,
        max: u64,
        unit: &'static str,
        text: String,
    },
    /// `like` is an example of one.
    #[error("expected a socket address such as {like}, got `{text}`")]
    SocketAddr { like: &'static str, text: String },
    /// One of a few words, which `words` lists.
    #[error("expected {words}, got `{got}`")]
    Choice { words: &'static str, got: String },
    #[error("expected TYPE=TOPIC, got `{entry}`")]
    Override { entry: String },
    #[error("`{ty}` is given twice")]
    Twice { ty: String },
}

/// A whole number within `range` (`unit` for the message). A number too large
/// even to parse gets the same answer as one past the bound.
pub fn whole(
    text: &str,
    range: RangeInclusive<u64>,
    unit: &'static str,
) -> Result<u64, ValueError> {
    match text.trim().parse() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(ValueError::Whole {
            min: *range.start(),
            max: *range.end(),
            unit,
            text: text.to_owned(),
        }),
    }
}

/// A socket address, `example` shown when it is not one.
pub fn socket_addr(text: &str, example: &'static str) -> Result<SocketAddr, ValueError> {
    text.trim().parse().map_err(|_| ValueError::SocketAddr {
        like: example,
        text: text.to_owned(),
    })
}

/// Comma-separated `TYPE=TOPIC` entries, each type once.
pub fn overrides(text: &str) -> Result<BTreeMap<String, String>, ValueError> {
    let mut map = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((ty, topic)) = entry.split_once('=') else {
            return Err(ValueError::Override {
                entry: entry.to_owned(),
            });
        };
        if map
            .insert(ty.trim().to_owned(), topic.trim().to_owned())
            .is_some()
        {
            return Err(ValueError::Twice {
                ty: ty.trim().to_owned(),
            });
        }
    }
    Ok(map)
}
