//! Where definitions come from: the built-ins and presets compiled into the
//! binary, and the operator's providers file, presets merged over as YAML
//! before the typed parse, every start-up check applied.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::check::{check_across, compile, Problem};
use super::compiled::Definition;
use super::definition::{RawFile, RawProvider};

/// The built-ins' definition files. What they publish is held byte for byte
/// by the tests that predate them (records, ids, keys, headers, topics).
pub const BUILTINS: [(&str, &str); 2] = [
    ("m2m", include_str!("builtin/m2m.yaml")),
    ("transfers", include_str!("builtin/transfers.yaml")),
];

/// Each preset is a partial provider: the sender's published scheme.
pub const PRESETS: [(&str, &str); 24] = [
    (
        "standard-webhooks",
        include_str!("presets/standard-webhooks.yaml"),
    ),
    ("github", include_str!("presets/github.yaml")),
    ("stripe", include_str!("presets/stripe.yaml")),
    ("shopify", include_str!("presets/shopify.yaml")),
    ("slack", include_str!("presets/slack.yaml")),
    ("zoom", include_str!("presets/zoom.yaml")),
    ("meta", include_str!("presets/meta.yaml")),
    ("paddle", include_str!("presets/paddle.yaml")),
    ("calendly", include_str!("presets/calendly.yaml")),
    ("typeform", include_str!("presets/typeform.yaml")),
    ("intercom", include_str!("presets/intercom.yaml")),
    ("zendesk", include_str!("presets/zendesk.yaml")),
    ("x", include_str!("presets/x.yaml")),
    ("dropbox", include_str!("presets/dropbox.yaml")),
    ("gitlab", include_str!("presets/gitlab.yaml")),
    ("linear", include_str!("presets/linear.yaml")),
    ("square", include_str!("presets/square.yaml")),
    ("twilio", include_str!("presets/twilio.yaml")),
    (
        "slack-interactivity",
        include_str!("presets/slack-interactivity.yaml"),
    ),
    ("hubspot", include_str!("presets/hubspot.yaml")),
    ("okta", include_str!("presets/okta.yaml")),
    ("discord", include_str!("presets/discord.yaml")),
    ("sendgrid", include_str!("presets/sendgrid.yaml")),
    (
        "microsoft-graph",
        include_str!("presets/microsoft-graph.yaml"),
    ),
];

/// Names the file may not use: the built-ins', and `unknown` (the metrics'
/// label for paths that name no provider).
pub const RESERVED_NAMES: [&str; 3] = ["m2m", "transfers", "unknown"];

/// A definition that cannot be used, as one line: where, which provider, which key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DefinitionError {
    /// `GATEWAY_PROVIDERS_FILE=<path>`, or `built-in <name>`.
    pub origin: String,
    pub provider: Option<String>,
    /// Empty when the file as a whole is at fault (unreadable, not YAML).
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(p) = &self.provider {
            write!(f, "provider \"{p}\": ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.reason)
    }
}

/// Every provider the gateway knows: the built-ins first, then the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definitions {
    pub list: Vec<Definition>,
    /// How many of `list` are built in.
    pub builtins: usize,
    /// `GATEWAY_PROVIDERS_FILE=<path>` when a file was read, for error messages.
    pub origin: Option<String>,
    /// The providers file read, when one was: paths in it (`schema:`) are relative to it.
    pub file: Option<PathBuf>,
}

/// The variable that names the providers file.
pub const PROVIDERS_FILE_VAR: &str = "GATEWAY_PROVIDERS_FILE";

/// The providers file a command reads, as the gateway does: its
/// `--providers-file`, else `GATEWAY_PROVIDERS_FILE` from `env`.
pub fn providers_file(flag: Option<&Path>, env: &HashMap<String, String>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env.get(PROVIDERS_FILE_VAR).map(PathBuf::from))
}

impl Definitions {
    pub fn get(&self, name: &str) -> Option<&Definition> {
        self.list.iter().find(|d| d.name == name)
    }

    /// Every provider's name, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|d| d.name.as_str())
    }

    /// The providers from the file.
    pub fn configured(&self) -> &[Definition] {
        &self.list[self.builtins..]
    }

    /// Whether `var` is a provider's secret variable, or its `_FILE` variant.
    pub fn is_secret_variable(&self, var: &str) -> bool {
        self.list.iter().any(|d| {
            let handshake = d.handshake_secret.iter();
            d.key.iter().chain(handshake).chain([&d.secret]).any(|s| {
                let name = s.env.as_str();
                var == name || var.strip_prefix(name) == Some("_FILE")
            })
        })
    }

    /// The built-ins alone (no providers file).
    pub fn builtin() -> Definitions {
        Definitions::with_file(None).expect("the built-in definitions are valid")
    }

    /// The built-ins plus, when given, the providers file at `path`.
    pub fn load(path: Option<&Path>) -> Result<Definitions, DefinitionError> {
        let file = match path {
            None => None,
            Some(path) => {
                let origin = format!("{PROVIDERS_FILE_VAR}={}", path.display());
                let text = std::fs::read_to_string(path).map_err(|e| DefinitionError {
                    origin: origin.clone(),
                    provider: None,
                    key: String::new(),
                    reason: format!("cannot read: {}", e.kind()),
                })?;
                Some((origin, text))
            }
        };
        let mut defs =
            Definitions::with_file(file.as_ref().map(|(o, t)| (o.as_str(), t.as_str())))?;
        defs.file = path.map(Path::to_path_buf);
        Ok(defs)
    }

    /// As [`Definitions::load`], the file's `(origin, text)` handed in.
    pub fn with_file(file: Option<(&str, &str)>) -> Result<Definitions, DefinitionError> {
        let mut list = Vec::new();
        let mut origins = Vec::new();
        for (name, text) in BUILTINS {
            let origin = format!("built-in {name}");
            let raw = parse_one(&origin, text)?;
            list.push(compile(raw).map_err(|p| at(&origin, Some(name.into()), p))?);
            origins.push(origin);
        }
        let builtins = list.len();
        if let Some((origin, text)) = file {
            for raw in parse_file(origin, text)? {
                let name = raw.name.clone();
                let reserved = name.as_deref().filter(|n| RESERVED_NAMES.contains(n));
                if let Some(n) = reserved {
                    return Err(at(
                        origin,
                        name.clone(),
                        Problem {
                            key: "name".into(),
                            reason: format!("`{n}` is reserved"),
                        },
                    ));
                }
                list.push(compile(raw).map_err(|p| at(origin, name, p))?);
                origins.push(origin.to_owned());
            }
        }
        check_across(&list).map_err(|(i, p)| at(&origins[i], Some(list[i].name.clone()), p))?;
        Ok(Definitions {
            list,
            builtins,
            origin: file.map(|(o, _)| o.to_owned()),
            file: None,
        })
    }
}

fn at(origin: &str, provider: Option<String>, p: Problem) -> DefinitionError {
    DefinitionError {
        origin: origin.to_owned(),
        provider,
        key: p.key,
        reason: p.reason,
    }
}

/// serde's message already carries the key path and the line and column
/// ("providers[0].signature: unknown field `x`, expected ... at line 7 column 5");
/// the provider's name is looked up from the path's index.
fn yaml_error(origin: &str, doc: Option<&Value>, e: serde_yaml_ng::Error) -> DefinitionError {
    let text = e.to_string();
    let (key, reason) = match text.split_once(": ") {
        Some((path, reason)) if !path.contains(' ') => (path.to_owned(), reason.to_owned()),
        _ => (String::new(), text.clone()),
    };
    let index = key
        .strip_prefix("providers[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(i, _)| i.parse::<usize>().ok());
    let provider = index.and_then(|i| {
        doc?.get("providers")?
            .get(i)?
            .get("name")?
            .as_str()
            .map(str::to_owned)
    });
    // With the provider named, the rest of the path is the key within it.
    let mut key = match (&provider, key.split_once("].")) {
        (Some(_), Some((_, rest))) => rest.to_owned(),
        (Some(_), None) if key.ends_with(']') => String::new(),
        _ => key,
    };
    // An unknown key is the key to point at, not its parent.
    if let Some(field) = reason
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f)
    {
        key = if key.is_empty() {
            field.to_owned()
        } else {
            format!("{key}.{field}")
        };
    }
    DefinitionError {
        origin: origin.to_owned(),
        provider,
        key,
        reason,
    }
}

fn parse_one(origin: &str, text: &str) -> Result<RawProvider, DefinitionError> {
    serde_yaml_ng::from_str(text).map_err(|e| yaml_error(origin, None, e))
}

/// The file's providers, each with its preset merged in.
fn parse_file(origin: &str, text: &str) -> Result<Vec<RawProvider>, DefinitionError> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(origin, None, e))?;
    // First the file as written, for unknown keys and wrong types with their
    // line and column (a merged value has no positions left).
    serde_yaml_ng::from_str::<RawFile>(text).map_err(|e| yaml_error(origin, Some(&doc), e))?;
    let Some(providers) = doc.get("providers").and_then(Value::as_sequence) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for given in providers {
        let name = given.get("name").and_then(Value::as_str).map(str::to_owned);
        let merged = match given.get("preset") {
            None | Some(Value::Null) => given.clone(),
            Some(preset) => {
                let base = preset_value(preset).ok_or_else(|| DefinitionError {
                    origin: origin.to_owned(),
                    provider: name.clone(),
                    key: "preset".into(),
                    reason: format!(
                        "unknown preset (expected one of {})",
                        PRESETS.map(|(n, _)| n).join(", ")
                    ),
                })?;
                merge(base, given)
            }
        };
        let raw = serde_yaml_ng::from_value::<RawProvider>(merged).map_err(|e| {
            let mut err = yaml_error(origin, None, e);
            err.provider = name.clone();
            err.key = format!("{} (with the preset merged)", err.key);
            err
        })?;
        out.push(raw);
    }
    Ok(out)
}

fn preset_value(name: &Value) -> Option<Value> {
    let name = name.as_str()?;
    let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
    Some(serde_yaml_ng::from_str(text).expect("the presets are valid YAML"))
}

/// `given` over `base`, key by key: mappings merge recursively, any other value
/// given replaces the preset's, and a given `null` removes the key.
pub fn merge(base: Value, given: &Value) -> Value {
    match (base, given) {
        (Value::Mapping(mut base), Value::Mapping(given)) => {
            for (k, v) in given {
                match v {
                    Value::Null => {
                        base.remove(k);
                    }
                    _ => {
                        let merged = match base.remove(k) {
                            Some(b) => merge(b, v),
                            None => strip_nulls(v),
                        };
                        base.insert(k.clone(), merged);
                    }
                }
            }
            Value::Mapping(base)
        }
        (_, given) => strip_nulls(given),
    }
}

/// A `null` with nothing under it to remove means "absent".
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect::<Mapping>(),
        ),
        other => other.clone(),
    }
}
