//! The librdkafka passthrough: the gateway's defaults, `KAFKA_*` variables
//! (aliases read as their property), the delivery guarantees enforced on top,
//! and a start-up view that shows only what is known to hold no secret.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;

use super::{invalid, ConfigError, Env};

/// librdkafka's own default for `message.max.bytes`.
const LIBRDKAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// A variable Kubernetes injects for a Service named `kafka` (`KAFKA_PORT`,
/// `KAFKA_PORT_*`, `KAFKA_SERVICE_*`): not a librdkafka property.
pub fn is_service_link(var: &str) -> bool {
    var == "KAFKA_PORT" || var.starts_with("KAFKA_PORT_") || var.starts_with("KAFKA_SERVICE_")
}

/// librdkafka properties: the gateway's defaults, overridden by `KAFKA_*`
/// variables, with the delivery guarantees enforced on top.
#[derive(Clone)]
pub struct KafkaSettings {
    properties: BTreeMap<String, KafkaValue>,
}

#[derive(Clone)]
struct KafkaValue {
    value: String,
    /// The variable it came from, for error messages; empty for the gateway's own.
    origin: String,
    /// Whether the value may be printed: see [`super::shown::may_show`].
    shown: bool,
}

impl KafkaValue {
    fn new(property: &str, value: String, origin: String, from_file: bool) -> KafkaValue {
        KafkaValue {
            shown: super::shown::may_show(property, from_file),
            value,
            origin,
        }
    }

    /// One of the gateway's own values.
    fn gateway(property: &str, value: &str) -> KafkaValue {
        KafkaValue::new(property, value.to_owned(), String::new(), false)
    }
}

/// One `KAFKA_*` variable: the property it sets (by its first name in
/// [`KAFKA_ALIASES`]) and its value, or the file holding it.
struct KafkaVariable {
    var: String,
    property: String,
    from_file: bool,
    value: String,
}

/// The `KAFKA_*` variables in name order, and warnings for those ignored.
/// Refuses two variables that set one property (`X` and `X_FILE`, or a
/// property and its alias) before any value is looked at.
fn kafka_variables(env: &Env) -> Result<(Vec<KafkaVariable>, Vec<String>), ConfigError> {
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KAFKA_"))
        .collect();
    vars.sort();
    let mut variables = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeMap::new();
    for (var, value) in vars {
        if is_service_link(var) {
            warnings.push(format!("ignoring {var}: a Kubernetes service-link variable, not a librdkafka property (set enableServiceLinks: false)"));
            continue;
        }
        let rest = &var["KAFKA_".len()..];
        let (name, from_file) = match rest.strip_suffix("_FILE") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let spelled = name.to_ascii_lowercase().replace('_', ".");
        if spelled.is_empty() {
            return Err(invalid(var.as_str(), "names no property"));
        }
        let property = canonical(&spelled).to_owned();
        if let Some(other) = seen.insert(property.clone(), var.clone()) {
            let alias = if spelled == property {
                String::new()
            } else {
                format!(" (as its alias `{spelled}`)")
            };
            return Err(invalid(
                var.as_str(),
                format!("sets `{property}`{alias} like {other}; set only one"),
            ));
        }
        variables.push(KafkaVariable {
            var: var.clone(),
            property,
            from_file,
            value: value.clone(),
        });
    }
    Ok((variables, warnings))
}

/// The gateway's choices, any of which a `KAFKA_*` variable may change.
const KAFKA_DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "webhook-gateway"),
    // 0: each request waits for its ack, so linger is pure latency, and a
    // webhook arriving alone (a provider's usual one at a time) is sent at
    // once. Batches still form under load, behind the produce requests in
    // flight. Measured in BENCHMARKS.md: 0 beats 1 and 5 from C = 1 to 64 and
    // ties at 256; librdkafka 2.12's broker thread waits in whole milliseconds
    // (rd_timeout_ms rounds up), so a fractional linger acts as 1 ms.
    ("linger.ms", "0"),
    // librdkafka's 10 s default maximum would delay recovery after a broker blip.
    ("reconnect.backoff.ms", "100"),
    ("reconnect.backoff.max.ms", "1000"),
    // Bounded local queue: memory stays flat, a full queue answers 503.
    ("queue.buffering.max.kbytes", "16384"),
    ("queue.buffering.max.messages", "100000"),
    ("socket.keepalive.enable", "true"),
];

/// librdkafka properties with two names (`_RK_C_ALIAS` in librdkafka 2.12's
/// rdkafka_conf.c; CONFIGURATION.md's "Alias for" entries): setting both leaves
/// which one applies to the order they are set in. Each `KAFKA_*` variable is
/// read as the first name, so the gateway's defaults and enforced values apply
/// to either spelling and setting both is refused. The first name is the one
/// the gateway uses, else the Java client's, which operators know.
pub(super) const KAFKA_ALIASES: &[(&str, &str)] = &[
    ("bootstrap.servers", "metadata.broker.list"),
    ("max.in.flight.requests.per.connection", "max.in.flight"),
    ("sasl.mechanism", "sasl.mechanisms"),
    (
        "sasl.oauthbearer.client.id",
        "sasl.oauthbearer.client.credentials.client.id",
    ),
    (
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.client.credentials.client.secret",
    ),
    ("max.partition.fetch.bytes", "fetch.message.max.bytes"),
    ("linger.ms", "queue.buffering.max.ms"),
    ("retries", "message.send.max.retries"),
    ("compression.type", "compression.codec"),
    ("acks", "request.required.acks"),
    ("message.timeout.ms", "delivery.timeout.ms"),
    ("enable.auto.commit", "auto.commit.enable"),
];

/// The name the gateway keys `property` by: its first name in [`KAFKA_ALIASES`].
fn canonical(property: &str) -> &str {
    KAFKA_ALIASES
        .iter()
        .find(|(_, alias)| *alias == property)
        .map_or(property, |(name, _)| name)
}

/// Not overridable: they are what "acknowledged" means.
const KAFKA_ENFORCED: &[(&str, &str)] = &[("acks", "all"), ("enable.idempotence", "true")];

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

impl KafkaSettings {
    pub fn from_env(
        env: &Env,
        publish_timeout: Duration,
    ) -> Result<(KafkaSettings, Vec<String>), ConfigError> {
        let mut properties: BTreeMap<String, KafkaValue> = KAFKA_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), KafkaValue::gateway(k, v)))
            .collect();
        let (variables, warnings) = kafka_variables(env)?;
        for KafkaVariable {
            var,
            property,
            from_file,
            value,
        } in variables
        {
            let value = if from_file {
                let text = std::fs::read_to_string(&value).map_err(|e| {
                    invalid(var.as_str(), format!("cannot read `{value}`: {}", e.kind()))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                value
            };
            if let Some((_, required)) = KAFKA_ENFORCED.iter().find(|(k, _)| *k == property) {
                let same = value == *required || (property == "acks" && value == "-1");
                if !same {
                    return Err(invalid(var.as_str(), format!("`{property}` is always `{required}`: it is what an acknowledged webhook means")));
                }
            }
            if property == "message.timeout.ms" {
                return Err(invalid(
                    var.as_str(),
                    "set GATEWAY_PUBLISH_TIMEOUT_MS instead: the producer's timeout follows it",
                ));
            }
            let entry = KafkaValue::new(&property, value, var, from_file);
            properties.insert(property, entry);
        }
        for (k, v) in KAFKA_ENFORCED {
            properties.insert(k.to_string(), KafkaValue::gateway(k, v));
        }
        properties.insert(
            "message.timeout.ms".into(),
            KafkaValue {
                origin: "GATEWAY_PUBLISH_TIMEOUT_MS".into(),
                ..KafkaValue::gateway(
                    "message.timeout.ms",
                    &publish_timeout.as_millis().to_string(),
                )
            },
        );
        let settings = KafkaSettings { properties };
        settings.validate()?;
        Ok((settings, warnings))
    }

    /// librdkafka checks every name and value without creating a client.
    fn validate(&self) -> Result<(), ConfigError> {
        match self.client_config().create_native_config() {
            Ok(_) => Ok(()),
            Err(KafkaError::ClientConfig(result, description, key, _)) => {
                let entry = self.properties.get(&key);
                let setting = entry
                    .map(|e| e.origin.clone())
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| key.clone());
                // An unknown name is reported by name alone; any other reason
                // may quote the value, so it is shown only when the value may be.
                let reason = if result == RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN
                    || entry.is_some_and(|e| e.shown)
                {
                    description
                } else {
                    format!("librdkafka refused the value of `{key}` (its reason is withheld: it may quote the value, which is not known to be free of secrets)")
                };
                Err(invalid(setting, reason))
            }
            Err(other) => Err(invalid("KAFKA_*", other.to_string())),
        }
    }

    /// The value of `property`, under either of its names.
    pub fn get(&self, property: &str) -> Option<&str> {
        self.properties
            .get(canonical(property))
            .map(|v| v.value.as_str())
    }

    pub fn set(&mut self, property: &str, value: &str) {
        let property = canonical(property);
        self.properties
            .insert(property.to_owned(), KafkaValue::gateway(property, value));
    }

    pub fn has_bootstrap(&self) -> bool {
        self.get("bootstrap.servers").is_some()
    }

    pub(super) fn message_max_bytes(&self) -> Result<usize, ConfigError> {
        match self.properties.get("message.max.bytes") {
            None => Ok(LIBRDKAFKA_MESSAGE_MAX_BYTES),
            Some(v) => v
                .value
                .parse()
                .map_err(|_| invalid(v.origin.as_str(), "expected a whole number of bytes")),
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        self.client_config_of(|_| true)
    }

    /// The properties `keep` keeps, for another kind of client (a re-drive's
    /// consumer). Read from here, never from a `ClientConfig`'s `config_map`,
    /// which hands back secrets as a placeholder: a consumer built from it
    /// authenticated with the password "[sanitized for safety]".
    pub fn client_config_of(&self, keep: impl Fn(&str) -> bool) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in self.properties.iter().filter(|(k, _)| keep(k)) {
            config.set(k, &v.value);
        }
        config
    }

    /// Every property, each value not known to be safe replaced, for the start-up log.
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.properties
            .iter()
            .map(|(k, v)| {
                let value = if v.shown { &v.value } else { "<redacted>" };
                (k.clone(), value.to_owned())
            })
            .collect()
    }
}
