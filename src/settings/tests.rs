//! The settings' rules, as a table of environments and what each must give.

use std::time::Duration;

use clap::{Args, FromArgMatches};

use super::kafka::KAFKA_ALIASES;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The run flags of a command line, as clap parses them.
fn flags(args: &[&str]) -> RunFlags {
    let argv = std::iter::once("webhook-gateway").chain(args.iter().copied());
    let matches = flags_command().try_get_matches_from(argv).unwrap();
    RunFlags::from_arg_matches(&matches).unwrap()
}

fn flags_command() -> clap::Command {
    RunFlags::augment_args(clap::Command::new("webhook-gateway"))
}

fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_env(&env(pairs))
}

const BROKER: (&str, &str) = ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = config(&[BROKER]).unwrap();
    assert_eq!(c.settings.listen_addr, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(c.settings.admin_addr, "0.0.0.0:9090".parse().unwrap());
    assert_eq!(c.settings.max_body_bytes, 262_144);
    assert_eq!(c.settings.max_buffered_bytes, 64 * 1024 * 1024);
    assert_eq!(c.settings.replay_tolerance, Duration::from_secs(300));
    assert_eq!(c.settings.publish_timeout, Duration::from_secs(10));
    assert!(
        c.secrets.is_empty(),
        "no provider is enabled without its secret"
    );
    assert_eq!(c.kafka.get("acks"), Some("all"));
    assert_eq!(c.kafka.get("enable.idempotence"), Some("true"));
    assert_eq!(c.kafka.get("message.timeout.ms"), Some("10000"));
    assert_eq!(c.kafka.get("reconnect.backoff.max.ms"), Some("1000"));
}

#[test]
fn a_broker_is_required() {
    assert_eq!(config(&[]).unwrap_err().setting, "KAFKA_BOOTSTRAP_SERVERS");
}

#[test]
fn flags_win_over_environment_and_ipv6_listens() {
    let env = env(&[BROKER, ("GATEWAY_LISTEN_ADDR", "127.0.0.1:1")]);
    let settings = Settings::read(&flags(&["--listen-addr", "[::]:8081"]), &env).unwrap();
    let c = Config::new(settings, &env).unwrap();
    assert_eq!(c.settings.listen_addr, "[::]:8081".parse().unwrap());
}

#[test]
fn bad_values_name_the_setting() {
    for (var, value) in [
        ("GATEWAY_LISTEN_ADDR", "nowhere"),
        ("GATEWAY_MAX_BODY_BYTES", "-3"),
        ("GATEWAY_PUBLISH_TIMEOUT_MS", "0"),
        ("GATEWAY_TOPIC_OVERRIDES", "m2m.nope=x"),
        ("LOG_FORMAT", "xml"),
    ] {
        let err = config(&[BROKER, (var, value)]).unwrap_err();
        assert!(err.setting.contains(var), "{var}: {err}");
    }
}

#[test]
fn secrets_are_comma_separated_lists_and_empty_elements_are_refused() {
    let c = config(&[BROKER, ("M2M_WEBHOOK_SECRET", "old,new")]).unwrap();
    assert_eq!(c.secrets["m2m"].keys.len(), 2);
    for bad in ["", "a,,b", "a,", " "] {
        let err = config(&[BROKER, ("TRANSFERS_SIGNATURE_TOKEN", bad)]).unwrap_err();
        assert_eq!(err.setting, "TRANSFERS_SIGNATURE_TOKEN");
    }
}

#[test]
fn secrets_from_files_one_per_line_with_trailing_newlines_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    std::fs::write(&good, "first\nsecond\n\n").unwrap();
    let path = good.to_str().unwrap();
    let c = config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", path)]).unwrap();
    let m2m = &c.secrets["m2m"];
    assert_eq!(m2m.keys.len(), 2);
    assert_eq!(
        m2m.source,
        SecretSource::File(good.clone(), Fingerprint::of(b"first\nsecond\n\n"))
    );

    let holey = dir.path().join("holey");
    std::fs::write(&holey, "first\n\nsecond\n").unwrap();
    let err = config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", holey.to_str().unwrap())]).unwrap_err();
    assert_eq!(err.setting, "M2M_WEBHOOK_SECRET_FILE");
    let missing = config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", "/nonexistent/x")]).unwrap_err();
    assert_eq!(missing.setting, "M2M_WEBHOOK_SECRET_FILE");
    let both = config(&[
        BROKER,
        ("M2M_WEBHOOK_SECRET_FILE", path),
        ("M2M_WEBHOOK_SECRET", "x"),
    ])
    .unwrap_err();
    assert_eq!(both.setting, "M2M_WEBHOOK_SECRET");
}

#[test]
fn secret_values_never_appear_in_errors_or_debug() {
    let c = config(&[
        BROKER,
        ("M2M_WEBHOOK_SECRET", "hunter2-m2m"),
        ("KAFKA_SASL_PASSWORD", "hunter2-sasl"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let err = config(&[BROKER, ("TRANSFERS_SIGNATURE_TOKEN", "hunter2,,x")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn kafka_variables_pass_through_and_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let c = config(&[
        BROKER,
        ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
        ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        ("KAFKA_SASL_USERNAME", "gw"),
        ("KAFKA_SASL_PASSWORD_FILE", pw.to_str().unwrap()),
        ("KAFKA_LINGER_MS", "1"),
    ])
    .unwrap();
    assert_eq!(c.kafka.get("security.protocol"), Some("SASL_SSL"));
    assert_eq!(c.kafka.get("sasl.password"), Some("s3cret"));
    assert_eq!(c.kafka.get("linger.ms"), Some("1"));
    assert!(c
        .kafka
        .redacted()
        .contains(&("sasl.password".into(), "<redacted>".into())));
}

#[test]
fn only_properties_known_to_hold_no_secret_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("client-id");
    std::fs::write(&id, "hunter2-from-a-file\n").unwrap();
    let c = config(&[
        BROKER,
        ("KAFKA_SASL_MECHANISM", "OAUTHBEARER"),
        (
            "KAFKA_SASL_OAUTHBEARER_CONFIG",
            "principal=svc extension_apikey=hunter2-oauth",
        ),
        // Valid, and no keyword of a deny-list would catch it.
        (
            "KAFKA_SASL_KERBEROS_KINIT_CMD",
            "kinit -k -t /k hunter2-kinit",
        ),
        ("KAFKA_SASL_USERNAME", "hunter2-user"),
        ("KAFKA_CLIENT_ID_FILE", id.to_str().unwrap()),
        ("KAFKA_LINGER_MS", "7"),
    ])
    .unwrap();
    let shown = format!("{:?} {:?}", c, c.kafka.redacted());
    assert!(!shown.contains("hunter2"), "{shown}");
    let redacted = c.kafka.redacted();
    for (property, value) in [
        ("sasl.oauthbearer.config", "<redacted>"),
        ("sasl.kerberos.kinit.cmd", "<redacted>"),
        ("sasl.username", "<redacted>"),
        ("client.id", "<redacted>"),
        ("linger.ms", "7"),
        ("sasl.mechanism", "OAUTHBEARER"),
    ] {
        assert!(
            redacted.contains(&(property.into(), value.into())),
            "{property}: {redacted:?}"
        );
    }
}

#[test]
fn the_gateways_own_properties_are_all_shown() {
    let c = config(&[BROKER]).unwrap();
    for (property, value) in c.kafka.redacted() {
        assert_ne!(value, "<redacted>", "{property}");
    }
}

#[test]
fn librdkafkas_refusal_never_quotes_a_value_not_known_to_be_safe() {
    // librdkafka's reason quotes the value: "dlopen() failed: hunter2-plugin.so ...".
    let err = config(&[BROKER, ("KAFKA_PLUGIN_LIBRARY_PATHS", "hunter2-plugin")]).unwrap_err();
    assert_eq!(err.setting, "KAFKA_PLUGIN_LIBRARY_PATHS");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // A known-safe property keeps librdkafka's reason, and a misspelt name says so.
    let err = config(&[BROKER, ("KAFKA_LINGER_MS", "soon")]).unwrap_err();
    assert_eq!(err.setting, "KAFKA_LINGER_MS");
    assert!(err.reason.contains("Invalid value"), "{err}");
    let err = config(&[BROKER, ("KAFKA_LINGERR_MS", "5")]).unwrap_err();
    assert!(
        err.reason.contains("No such configuration property"),
        "{err}"
    );
}

#[test]
fn service_link_variables_are_ignored_with_a_warning() {
    let c = config(&[
        BROKER,
        ("KAFKA_PORT", "tcp://10.0.0.1:9092"),
        ("KAFKA_SERVICE_HOST", "10.0.0.1"),
        ("KAFKA_PORT_9092_TCP", "x"),
        ("M2M_WEBHOOK_SECRET", "s"),
        ("TRANSFERS_SIGNATURE_TOKEN", "t"),
    ])
    .unwrap();
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
}

#[test]
fn unknown_or_invalid_kafka_properties_are_errors() {
    let err = config(&[BROKER, ("KAFKA_NO_SUCH_THING", "1")]).unwrap_err();
    assert_eq!(err.setting, "KAFKA_NO_SUCH_THING");
    let err = config(&[BROKER, ("KAFKA_LINGER_MS", "soon")]).unwrap_err();
    assert_eq!(err.setting, "KAFKA_LINGER_MS");
}

#[test]
fn delivery_guarantees_cannot_be_weakened() {
    for (var, value) in [
        ("KAFKA_ACKS", "1"),
        ("KAFKA_ENABLE_IDEMPOTENCE", "false"),
        ("KAFKA_MESSAGE_TIMEOUT_MS", "5"),
    ] {
        let err = config(&[BROKER, (var, value)]).unwrap_err();
        assert_eq!(err.setting, var);
    }
    assert!(config(&[BROKER, ("KAFKA_ACKS", "-1")]).is_ok());
}

fn kafka_var(property: &str) -> String {
    format!("KAFKA_{}", property.to_ascii_uppercase().replace('.', "_"))
}

#[test]
fn an_alias_is_its_property_under_another_name() {
    // It overrides the gateway's default as the usual name would...
    let c = config(&[BROKER, ("KAFKA_QUEUE_BUFFERING_MAX_MS", "2")]).unwrap();
    assert_eq!(c.kafka.get("linger.ms"), Some("2"));
    assert_eq!(c.kafka.get("queue.buffering.max.ms"), Some("2"));
    // ...is held to the enforced values...
    let err = config(&[BROKER, ("KAFKA_REQUEST_REQUIRED_ACKS", "1")]).unwrap_err();
    assert_eq!(err.setting, "KAFKA_REQUEST_REQUIRED_ACKS");
    assert!(config(&[BROKER, ("KAFKA_REQUEST_REQUIRED_ACKS", "all")]).is_ok());
    // ...and names the brokers as well as bootstrap.servers does.
    let c = config(&[("KAFKA_METADATA_BROKER_LIST", "127.0.0.1:9092")]).unwrap();
    assert_eq!(c.kafka.get("bootstrap.servers"), Some("127.0.0.1:9092"));
}

#[test]
fn a_property_set_under_both_its_names_is_refused() {
    for (name, alias) in KAFKA_ALIASES {
        let (a, b) = (kafka_var(name), kafka_var(alias));
        let err = config(&[BROKER, (&a, "1"), (&b, "1")]).unwrap_err();
        assert!(err.setting == a || err.setting == b, "{name}: {err}");
        assert!(err.reason.contains(name), "{name}: {err}");
    }
}

/// Each bounded setting with its largest accepted value, and what else it needs to pass.
type Bounded = (&'static str, u64, &'static [(&'static str, &'static str)]);
const BOUNDED: &[Bounded] = &[
    (
        "GATEWAY_MAX_BODY_BYTES",
        MAX_BODY_BYTES,
        &[("KAFKA_MESSAGE_MAX_BYTES", "1000000000")],
    ),
    ("GATEWAY_MAX_BUFFERED_BYTES", MAX_BUFFERED_BYTES, &[]),
    ("GATEWAY_BODY_TIMEOUT_MS", MAX_BODY_TIMEOUT_MS, &[]),
    ("GATEWAY_HEADER_TIMEOUT_SECS", MAX_HEADER_TIMEOUT_SECS, &[]),
    (
        "GATEWAY_REPLAY_TOLERANCE_SECS",
        MAX_REPLAY_TOLERANCE_SECS,
        &[],
    ),
    ("GATEWAY_PUBLISH_TIMEOUT_MS", MAX_PUBLISH_TIMEOUT_MS, &[]),
    ("GATEWAY_MAX_INFLIGHT", MAX_INFLIGHT, &[]),
    ("GATEWAY_MAX_CONNECTIONS", MAX_CONNECTIONS, &[]),
    ("GATEWAY_WORKER_THREADS", MAX_WORKER_THREADS, &[]),
    (
        "GATEWAY_SHUTDOWN_DELAY_SECS",
        MAX_SHUTDOWN_DELAY_SECS,
        &[("GATEWAY_SHUTDOWN_GRACE_SECS", "3600")],
    ),
    ("GATEWAY_SHUTDOWN_GRACE_SECS", MAX_SHUTDOWN_GRACE_SECS, &[]),
    ("GATEWAY_SECRET_RELOAD_SECS", MAX_SECRET_RELOAD_SECS, &[]),
];

#[test]
fn values_past_a_settings_bound_are_refused_naming_it() {
    for (var, max, needs) in BOUNDED {
        let with = |value: &str| {
            let mut pairs = vec![BROKER, (*var, value)];
            pairs.extend_from_slice(needs);
            config(&pairs)
        };
        assert!(with(&max.to_string()).is_ok(), "{var}={max} is accepted");
        for value in [
            (max + 1).to_string(),
            u64::MAX.to_string(),
            format!("{}0", u64::MAX),
        ] {
            let err = with(&value).unwrap_err();
            assert_eq!(err.setting, *var, "{var}={value}: {err}");
            assert!(err.reason.contains(&max.to_string()), "{err}");
        }
    }
}

#[test]
fn a_body_limit_too_large_for_the_producer_is_refused() {
    let err = config(&[BROKER, ("GATEWAY_MAX_BODY_BYTES", "1000000")]).unwrap_err();
    assert_eq!(err.setting, "GATEWAY_MAX_BODY_BYTES");
    assert!(config(&[
        BROKER,
        ("GATEWAY_MAX_BODY_BYTES", "1000000"),
        ("KAFKA_MESSAGE_MAX_BYTES", "2000000")
    ])
    .is_ok());
}

#[test]
fn a_provider_that_takes_any_body_needs_room_for_it_as_base64() {
    // 750 000 bytes fit a 1 000 000-byte message as they are, not as the
    // 1 000 000 of base64 plus the envelope that `body: any` publishes.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    let any = "providers:
  - name: blob
    secret: {env: BLOB_SECRET}
    signature: {header: x-blob-signature}
    body: any
    event: {name: {header: x-blob-event}, data: ''}
";
    std::fs::write(&file, any).unwrap();
    let body = ("GATEWAY_MAX_BODY_BYTES", "750000");
    let c = config(&[BROKER, body]).unwrap();
    assert_eq!(c.max_record_bytes, 750_000 + ENVELOPE_OVERHEAD_BYTES);
    let with_any = [
        BROKER,
        body,
        ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
    ];
    let err = config(&with_any).unwrap_err();
    assert_eq!(err.setting, "GATEWAY_MAX_BODY_BYTES");
    assert!(err.reason.contains("base64"), "{err}");
    let roomy = [&with_any[..], &[("KAFKA_MESSAGE_MAX_BYTES", "1100000")]].concat();
    assert_eq!(
        config(&roomy).unwrap().max_record_bytes,
        1_000_000 + ENVELOPE_OVERHEAD_BYTES
    );
}

const ACME: &str = "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature}
    event: {name: /type, data: /data}
    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/id}
  - name: beta
    secret: {env: BETA_SECRET}
    signature: {header: x-beta-signature}
    event: {name: /type, data: /data}
";

#[test]
fn the_providers_file_adds_definitions_whose_secrets_load_like_the_built_ins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, ACME).unwrap();
    let secret = dir.path().join("acme");
    std::fs::write(&secret, "s1\ns2\n").unwrap();
    let c = config(&[
        BROKER,
        ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
        ("ACME_SECRET_FILE", secret.to_str().unwrap()),
        // A defined type may be overridden like a built-in one.
        ("GATEWAY_TOPIC_OVERRIDES", "acme.invoice.paid=billing"),
    ])
    .unwrap();
    let names: Vec<_> = c.published.providers.names().collect();
    assert_eq!(names, ["m2m", "transfers", "acme", "beta"]);
    let acme = &c.secrets["acme"];
    assert!(matches!(&acme.source, SecretSource::File(p, _) if *p == secret));
    // beta's secret is unset: disabled, and said so at start-up.
    assert!(!c.secrets.contains_key("beta"));
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("\"beta\" is disabled: BETA_SECRET")));

    // Its secret variable follows the built-ins' rules.
    let err = config(&[
        BROKER,
        ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
        ("ACME_SECRET", "a,,b"),
    ])
    .unwrap_err();
    assert_eq!(err.setting, "ACME_SECRET");
}

#[test]
fn a_bad_providers_file_names_itself_the_provider_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(
        &file,
        ACME.replace("acme.invoice.paid", "acme.invoice_paid"),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    // The type's topic differs from the override's only by `_` against `.`.
    let err = config(&[
        BROKER,
        ("GATEWAY_PROVIDERS_FILE", path),
        (
            "GATEWAY_TOPIC_OVERRIDES",
            "unrouted=webhooks.acme.invoice.paid",
        ),
    ])
    .unwrap_err();
    assert_eq!(err.setting, format!("GATEWAY_PROVIDERS_FILE={path}"));
    assert!(
        err.reason
            .starts_with("provider \"acme\": events[0].topic: "),
        "{err}"
    );
    let missing = config(&[BROKER, ("GATEWAY_PROVIDERS_FILE", "/nonexistent.yaml")]);
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("/nonexistent.yaml"));
}

#[test]
fn dev_listens_on_loopback_and_stops_at_once_unless_told_otherwise() {
    let dev = Settings::read(&flags(&["--dev"]), &env(&[])).unwrap();
    assert_eq!(dev.listen_addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(dev.admin_addr, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(dev.shutdown_delay, Duration::ZERO);
    let told = env(&[("GATEWAY_LISTEN_ADDR", "127.0.0.1:1")]);
    let dev = Settings::read(&flags(&["--dev"]), &told).unwrap();
    assert_eq!(dev.listen_addr, "127.0.0.1:1".parse().unwrap());
    let flagged = Settings::read(&flags(&["--dev", "--listen-addr", "127.0.0.1:2"]), &told);
    assert_eq!(flagged.unwrap().listen_addr, "127.0.0.1:2".parse().unwrap());
}

#[test]
fn a_flag_is_read_as_its_variable_is_and_its_error_names_the_variable() {
    let err = Settings::read(&flags(&["--max-inflight", "many"]), &env(&[])).unwrap_err();
    assert_eq!(err.setting, "GATEWAY_MAX_INFLIGHT");
    let from_env = Settings::from_env(&env(&[("GATEWAY_MAX_INFLIGHT", "many")])).unwrap_err();
    assert_eq!(err.to_string(), from_env.to_string());
    // A flag is taken as given, even when the variable would be refused.
    let both = env(&[("GATEWAY_MAX_INFLIGHT", "many")]);
    let settings = Settings::read(&flags(&["--max-inflight", "7"]), &both).unwrap();
    assert_eq!(settings.max_inflight, 7);
}

#[test]
fn clap_reads_flags_only_and_help_names_each_variable_and_default() {
    let command = flags_command();
    let mut documented = DOCUMENTED.to_vec();
    for arg in command.get_arguments().filter(|a| a.get_id() != "dev") {
        assert!(
            arg.get_env().is_none(),
            "{}: clap reads no variable",
            arg.get_id()
        );
        assert!(arg.get_default_values().is_empty(), "{}", arg.get_id());
        let flag = arg.get_long().unwrap();
        let at = documented.iter().position(|d| d.flag == flag);
        let d = documented.remove(at.unwrap_or_else(|| panic!("--{flag} is not documented")));
        let help = arg.get_help().unwrap().to_string();
        assert!(help.contains(&format!(" [env: {}]", d.var)), "{help}");
        match d.default {
            Some(default) => assert!(help.ends_with(&format!(" [default: {default}]")), "{help}"),
            None => assert!(help.ends_with(&format!(" [env: {}]", d.var)), "{help}"),
        }
    }
    assert!(documented.is_empty(), "no flag for {documented:?}");
}

#[test]
fn settings_are_plain_values_and_contract_needs_no_broker() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, ACME).unwrap();
    // No KAFKA_*, a secret that would not load: neither is the contract's concern.
    let env = env(&[
        ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
        ("GATEWAY_TOPIC_PREFIX", "wh"),
        ("ACME_SECRET", "a,,b"),
    ]);
    let settings = Settings::from_env(&env).unwrap();
    assert_eq!(settings.providers_file.as_deref(), Some(file.as_path()));
    assert_eq!(settings.topic_prefix, "wh");
    let published = Published::read(&settings).unwrap();
    assert_eq!(published.providers.list.len(), 4);
    assert_eq!(&**published.topics.unrouted(), "wh.unrouted");
    assert_eq!(published.topic_prefix, "wh");
}

#[test]
fn commands_without_secrets_are_not_failed_by_one() {
    let env = env(&[BROKER, ("M2M_WEBHOOK_SECRET", "a,,b")]);
    let err = Config::from_env(&env).unwrap_err();
    assert_eq!(err.setting, "M2M_WEBHOOK_SECRET");
    let c = Config::without_secrets(Settings::from_env(&env).unwrap(), &env).unwrap();
    assert!(c.secrets.is_empty());
    // The broker is still required: they connect to it.
    let none = Env::new();
    let err = Config::without_secrets(Settings::from_env(&none).unwrap(), &none);
    assert_eq!(err.unwrap_err().setting, "KAFKA_BOOTSTRAP_SERVERS");
}

#[test]
fn a_secret_set_both_ways_is_refused_by_the_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m2m");
    std::fs::write(&file, "from-file\n").unwrap();
    let path = file.to_str().unwrap();
    let both = env(&[
        ("M2M_WEBHOOK_SECRET", "from-var"),
        ("M2M_WEBHOOK_SECRET_FILE", path),
    ]);
    let err = read_secrets(&both, "M2M_WEBHOOK_SECRET").unwrap_err();
    assert_eq!(
        err.to_string(),
        "M2M_WEBHOOK_SECRET: set either M2M_WEBHOOK_SECRET or M2M_WEBHOOK_SECRET_FILE, not both"
    );
    let one = env(&[("M2M_WEBHOOK_SECRET_FILE", path)]);
    let (secrets, source) = read_secrets(&one, "M2M_WEBHOOK_SECRET").unwrap().unwrap();
    assert_eq!(secrets, ["from-file"]);
    assert!(matches!(source, SecretSource::File(p, _) if p == file));
    assert!(read_secrets(&env(&[]), "M2M_WEBHOOK_SECRET")
        .unwrap()
        .is_none());
}

#[test]
fn worker_threads_default_to_one_fewer_than_the_cpus_and_at_least_one() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(
        config(&[BROKER]).unwrap().settings.worker_threads,
        (cpus - 1).max(1),
        "{cpus} CPUs: librdkafka's broker thread keeps one"
    );
    let set = |v: &str| config(&[BROKER, ("GATEWAY_WORKER_THREADS", v)]);
    assert_eq!(set("3").unwrap().settings.worker_threads, 3);
    for bad in ["0", "-1", "two", ""] {
        let err = set(bad).unwrap_err();
        assert_eq!(err.setting, "GATEWAY_WORKER_THREADS", "{bad:?}: {err}");
    }
}
