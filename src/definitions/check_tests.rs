//! The providers file's start-up checks, one class of mistake each: every
//! refusal names the file, the provider and the key.

// Built only under #[cfg(test)] (see mod.rs): tests/it/readme.rs reads nothing
// past that marker, as these names are not variables the gateway reads.

use std::collections::BTreeMap;

use super::compiled::*;
use super::load::{merge, PRESETS};
use super::{DefinitionError, Definitions};
use crate::engine::route::Topics;

const FILE: &str = "GATEWAY_PROVIDERS_FILE=/etc/gw/providers.yaml";

pub(super) fn load(yaml: &str) -> Result<Definitions, DefinitionError> {
    Definitions::with_file(Some((FILE, yaml)))
}

/// A valid provider `acme`; `extra` is more of its keys, indented as they are.
pub(super) fn acme(extra: &str) -> String {
    format!(
        "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-signature}}
    event: {{name: /type, data: /data}}
{extra}"
    )
}

const PAID: &str = "    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/id}
";

/// The file's provider `provider` is refused at `key`; the whole line is returned.
fn refused_at(yaml: &str, provider: &str, key: &str) -> String {
    let err = load(yaml).expect_err("refused");
    let line = err.to_string();
    assert_eq!(err.origin, FILE, "{line}");
    assert_eq!(err.provider.as_deref(), Some(provider), "{line}");
    assert_eq!(err.key, key, "{line}");
    assert!(
        line.starts_with(&format!("{FILE}: provider \"{provider}\": {key}: ")),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
    line
}

pub(super) fn refused(yaml: &str, key: &str) -> String {
    refused_at(yaml, "acme", key)
}

#[test]
fn a_valid_provider_loads_after_the_built_ins_with_defaults_filled() {
    let defs = load(&acme(PAID)).unwrap();
    assert_eq!(defs.builtins, 2);
    let acme = &defs.configured()[0];
    assert_eq!(acme.name, "acme");
    assert_eq!(acme.secret.encoding, SecretEncoding::Text);
    assert_eq!(acme.signature.algorithm, Algorithm::Sha256);
    assert_eq!(acme.signature.encoding, SignatureEncoding::Hex);
    assert_eq!(acme.signature.signed.to_string(), "{body}");
    assert_eq!(acme.body, Body::Json);
    assert!(acme.timestamp.is_none() && acme.id.is_none());
    assert_eq!(acme.events[0].type_name, "acme.invoice.paid");
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let line = refused(&acme("    signature_header: x\n"), "signature_header");
    assert!(line.contains("at line 6 column 5"), "{line}");
    let line = refused(
        &acme("    timestamp: {source: {header: t}, fromat: unix}\n"),
        "timestamp.fromat",
    );
    assert!(line.contains("line 6 column"), "{line}");
    refused(
        &acme("    events:\n      - {name: a, type: acme.a, subject: /id, topc: x}\n"),
        "events[0].topc",
    );
}

#[test]
fn bad_pointers_and_sources_are_refused() {
    let yaml = acme(PAID).replace("name: /type", "name: type");
    let line = refused(&yaml, "event.name");
    assert!(line.contains("not a JSON pointer"), "{line}");
    refused(
        &acme(PAID).replace("data: /data", "data: /da~2ta"),
        "event.data",
    );
    refused(
        &acme(PAID).replace("data: /data", "data: {header: x-data}"),
        "event.data",
    );
    refused(&acme("    id: {source: {field: id}}\n"), "id.source");
}

#[test]
fn bad_templates_are_refused() {
    let sig = |signed: &str| {
        acme(PAID).replace(
            "signature: {header: x-acme-signature}",
            &format!("signature: {{header: x-acme-signature, signed: \"{signed}\"}}"),
        )
    };
    for signed in ["{nonce}.{body}", "{timestamp}", "{body}.{body}", "{body"] {
        refused(&sig(signed), "signature.signed");
    }
}

#[test]
fn signed_timestamps_and_ids_come_from_headers_or_fields() {
    let signed = |template: &str, extra: &str| {
        acme(&format!("{extra}{PAID}")).replace(
            "signature: {header: x-acme-signature}",
            &format!("signature: {{header: x-acme-signature, signed: \"{template}\"}}"),
        )
    };
    refused(&signed("{timestamp}.{body}", ""), "timestamp");
    refused(
        &signed("{timestamp}.{body}", "    timestamp: {source: /ts}\n"),
        "timestamp.source",
    );
    refused(&signed("{id}.{body}", ""), "id");
    refused(
        &signed("{id}.{body}", "    id: {source: /id}\n"),
        "id.source",
    );
    // A header timestamp that nothing signs would prove nothing.
    refused(
        &signed("{body}", "    timestamp: {source: {header: x-ts}}\n"),
        "timestamp",
    );
    let ok = load(&signed(
        "{id}.{timestamp}.{body}",
        "    timestamp: {source: {header: x-ts}}\n    id: {source: {header: x-id}}\n",
    ))
    .unwrap();
    assert!(ok.configured()[0].id.as_ref().unwrap().signed);
}

#[test]
fn fields_exclude_prefix_and_separator() {
    let yaml = acme(PAID).replace(
        "signature: {header: x-acme-signature}",
        "signature: {header: x-acme-signature, prefix: \"v1=\", fields: {separator: \",\", signature: v1}}",
    );
    refused(&yaml, "signature.fields");
}

#[test]
fn when_values_are_strings() {
    let yaml = acme(
        "    events:\n      - {name: a, when: {/data/ok: true}, type: acme.a, subject: /id}\n",
    );
    refused(&yaml, "events[0].when./data/ok");
}

#[test]
fn two_entries_that_can_match_the_same_event_are_refused() {
    let entries = |a: &str, b: &str| {
        acme(&format!(
            "    events:
      - {{name: x, {a} type: acme.a, subject: /id}}
      - {{name: x, {b} type: acme.b, subject: /id}}
"
        ))
    };
    refused(&entries("", ""), "events[1].when");
    // Different pointers do not tell the events apart.
    refused(
        &entries("when: {/s: a},", "when: {/t: b},"),
        "events[1].when",
    );
    load(&entries("when: {/s: a},", "when: {/s: b},")).unwrap();
}

#[test]
fn names_follow_the_pattern_and_reserved_ones_are_refused() {
    for bad in ["Acme", "1acme", "ac_me", &"a".repeat(33)] {
        let yaml = acme(PAID).replace("name: acme", &format!("name: {bad}"));
        refused_at(&yaml, bad, "name");
    }
    for reserved in ["m2m", "transfers", "unknown"] {
        let yaml = acme("").replace("name: acme", &format!("name: {reserved}"));
        let line = refused_at(&yaml, reserved, "name");
        assert!(line.contains("reserved"), "{line}");
    }
    let twice = format!("{}{}", acme(""), &acme("")["providers:\n".len()..]);
    refused(&twice, "name");
}

#[test]
fn types_start_with_the_name_use_few_characters_and_avoid_reserved_ones() {
    let typed = |ty: &str| acme(&PAID.replace("acme.invoice.paid", ty));
    for bad in [
        "invoice.paid",
        "acme.",
        "acme.Invoice",
        "acme.in voice",
        "acme.unknown",
    ] {
        refused(&typed(bad), "events[0].type");
    }
    let twice = acme(
        "    events:
      - {name: a, type: acme.a, subject: /id}
      - {name: b, type: acme.a, subject: /id}
",
    );
    refused(&twice, "events[1].type");
}

#[test]
fn topics_are_legal_kafka_names_that_do_not_collide_by_dot_and_underscore() {
    refused(
        &acme(&PAID.replace(
            "subject: /data/id",
            "subject: /data/id, topic: \"bad topic\"",
        )),
        "events[0].topic",
    );
    let defs = load(&acme(
        "    events:
      - {name: a, type: acme.a_b, subject: /id}
      - {name: b, type: acme.a.b, subject: /id}
",
    ))
    .unwrap();
    let e = Topics::new(&defs.list, "webhooks", &BTreeMap::new()).unwrap_err();
    assert_eq!(e.provider, Some(2));
    assert_eq!(e.key, "events[1].topic");
    assert!(e.reason.contains("only by `.` against `_`"), "{}", e.reason);
    let long = "p".repeat(240);
    let e = Topics::new(&defs.list[..2], &long, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.provider, None,
        "unrouted is checked first: the prefix is at fault"
    );
}

#[test]
fn secret_variables_are_not_the_gateways_and_not_shared() {
    let env = |var: &str| acme(PAID).replace("ACME_SECRET", var);
    for var in [
        "GATEWAY_ACME",
        "KAFKA_SASL_PASSWORD",
        "M2M_WEBHOOK_SECRET",
        "TRANSFERS_SIGNATURE_TOKEN_FILE",
        "acme-secret",
        "",
    ] {
        refused(&env(var), "secret.env");
    }
    let other = acme("").replace("name: acme", "name: other");
    let yaml = format!("{}{}", acme(PAID), &other["providers:\n".len()..]);
    refused_at(&yaml, "other", "secret.env");
}

#[test]
fn enum_values_and_limits_are_checked() {
    let sig = |k: &str, v: &str| {
        acme(PAID).replace(
            "signature: {header: x-acme-signature}",
            &format!("signature: {{header: x-acme-signature, {k}: {v}}}"),
        )
    };
    refused(&sig("algorithm", "md5"), "signature.algorithm");
    refused(&sig("encoding", "base32"), "signature.encoding");
    refused(
        &acme("    secret: {env: A, encoding: hex}\n")
            .replace("    secret: {env: ACME_SECRET}\n", ""),
        "secret.encoding",
    );
    refused(&acme("    body: xml\n"), "body");
    let ts = |t: &str| {
        acme(&format!(
            "    timestamp: {{source: {{header: x-ts}}, {t}}}\n"
        ))
        .replace(
            "signature: {header: x-acme-signature}",
            "signature: {header: x-acme-signature, signed: \"{timestamp}.{body}\"}",
        )
    };
    refused(&ts("format: iso"), "timestamp.format");
    refused(&ts("tolerance_secs: 0"), "timestamp.tolerance_secs");
    let long = "e".repeat(crate::definitions::rules::MAX_EVENT_NAME_LEN + 1);
    refused(
        &acme(&PAID.replace("invoice.paid,", &format!("{long},"))),
        "events[0].name",
    );
    refused(&acme("    sample: not json\n"), "sample");
}

#[test]
fn each_preset_loads_under_a_name_and_a_secret() {
    for (preset, _) in PRESETS {
        // Square signs its notification URL, which only the operator knows.
        let url = match preset {
            "square" | "twilio" | "hubspot" => "    url: https://hooks.example.com/in\n",
            _ => "",
        };
        // A public-key scheme's variable is its `key`.
        let credential = match preset {
            "discord" | "sendgrid" => "key",
            _ => "secret",
        };
        // Meta's verify token is the operator's choice too.
        let token = match preset {
            "meta" => "    handshake_secret: {env: ACME_VERIFY_TOKEN}\n",
            _ => "",
        };
        let yaml = format!(
            "providers:\n  - name: acme\n    preset: {preset}\n    {credential}: {{env: ACME_SECRET}}\n{url}{token}"
        );
        let defs = load(&yaml).unwrap_or_else(|e| panic!("{preset}: {e}"));
        assert_eq!(defs.configured()[0].preset.as_deref(), Some(preset));
        // What `providers show` prints loads back to the same definition.
        let shown = super::show::show(&defs, Some("acme")).unwrap();
        let again = load(&shown).unwrap_or_else(|e| panic!("{preset} shown: {e}\n{shown}"));
        assert_eq!(again.configured()[0], defs.configured()[0], "{preset}");
    }
    let square = "providers:\n  - {name: acme, preset: square, secret: {env: A}}\n";
    refused(square, "url");
    let yaml = "providers:\n  - {name: acme, preset: svix, secret: {env: A}}\n";
    refused(yaml, "preset");
    let meta = "providers:\n  - {name: acme, preset: meta, secret: {env: A}}\n";
    refused(meta, "handshakes[0].token");
}

#[test]
fn a_preset_merges_key_by_key_given_keys_win_and_null_removes_one() {
    let yaml = "providers:
  - name: acme
    preset: github
    secret: {env: ACME_SECRET}
    signature: {prefix_required: null, algorithm: sha512}
    id: null
    event: {data: /payload}
";
    let acme = load(yaml).unwrap().configured()[0].clone();
    // Given keys win, the preset's siblings stay.
    assert_eq!(acme.signature.algorithm, Algorithm::Sha512);
    assert_eq!(
        acme.signature.header.as_ref().unwrap().as_str(),
        "x-hub-signature-256"
    );
    assert_eq!(acme.event.data.as_str(), "/payload");
    assert_eq!(acme.event.join.as_ref().unwrap().to_string(), "\"/action\"");
    // null removes the preset's key: the default (false) or nothing applies.
    assert!(!acme.signature.prefix_required);
    assert!(acme.id.is_none());

    // The merge alone.
    let base: serde_yaml_ng::Value = serde_yaml_ng::from_str("{a: 1, b: {c: 2, d: 3}}").unwrap();
    let given = serde_yaml_ng::from_str("{b: {c: null, e: 4}, f: 5}").unwrap();
    let want: serde_yaml_ng::Value =
        serde_yaml_ng::from_str("{a: 1, b: {d: 3, e: 4}, f: 5}").unwrap();
    assert_eq!(merge(base, &given), want);
}

#[test]
fn a_preset_does_not_lift_the_rules() {
    let yaml = "providers:
  - name: acme
    preset: stripe
    secret: {env: ACME_SECRET}
    signature: {prefix: \"v1=\"}
";
    refused(yaml, "signature.fields");
}

#[test]
fn the_show_output_loads_back_and_names_no_secret() {
    let defs = load(&acme(PAID)).unwrap();
    let text = super::show::show(&defs, None).unwrap();
    assert!(text.contains("env: ACME_SECRET"), "{text}");
    assert!(text.contains("name: m2m") && text.contains("name: transfers"));
    // What is shown loads back to the same definition.
    let only = super::show::show(&defs, Some("acme")).unwrap();
    assert_eq!(load(&only).unwrap().configured()[0], defs.configured()[0]);
}

#[test]
fn accepted_is_a_2xx_with_a_typed_body_or_none() {
    let defs = load(&acme(
        "    accepted: {content_type: text/xml, body: \"<Response/>\"}\n",
    ))
    .unwrap();
    let accepted = defs.configured()[0].accepted.clone().unwrap();
    assert_eq!(accepted.status, 200, "200 unless said");
    assert_eq!(accepted.content_type.as_deref(), Some("text/xml"));
    let defs = load(&acme("    accepted: {status: 204}\n")).unwrap();
    assert_eq!(defs.configured()[0].accepted.clone().unwrap().body, "");

    let line = refused(&acme("    accepted: {status: 302}\n"), "accepted.status");
    assert!(line.contains("2xx"), "{line}");
    refused(
        &acme("    accepted: {status: 204, body: \"{}\", content_type: application/json}\n"),
        "accepted",
    );
    refused(&acme("    accepted: {body: ok}\n"), "accepted.content_type");
    refused(
        &acme("    accepted: {body: ok, content_type: \"text/plain\\n\"}\n"),
        "accepted.content_type",
    );
    refused(
        &acme(&format!(
            "    accepted: {{body: {}, content_type: text/plain}}\n",
            "x".repeat(5000)
        )),
        "accepted.body",
    );
}

#[test]
fn limits_are_a_positive_rate_a_burst_with_it_and_an_in_flight_cap() {
    let defs = load(&acme("    limits: {rate: 0.5, in_flight: 8}\n")).unwrap();
    let limits = defs.configured()[0].limits.clone().unwrap();
    assert_eq!(
        (limits.rate, limits.burst, limits.in_flight),
        (Some(0.5), None, Some(8))
    );
    refused(&acme("    limits: {}\n"), "limits");
    refused(&acme("    limits: {rate: 0}\n"), "limits.rate");
    refused(&acme("    limits: {rate: -3}\n"), "limits.rate");
    refused(&acme("    limits: {rate: .nan}\n"), "limits.rate");
    refused(&acme("    limits: {burst: 10}\n"), "limits.burst");
    refused(&acme("    limits: {rate: 10, burst: 0}\n"), "limits.burst");
    refused(&acme("    limits: {in_flight: 0}\n"), "limits.in_flight");
}

#[test]
fn a_literal_names_events_only() {
    let defs = load(&format!(
        "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-signature}}
    event: {{name: {{value: notification}}, data: \"\"}}
{PAID}"
    ))
    .unwrap();
    assert_eq!(
        defs.configured()[0].event.name.to_string(),
        "{value: \"notification\"}"
    );
    refused(
        &acme("    unrouted_subject: [{value: everyone}]\n"),
        "unrouted_subject[0]",
    );
    refused(
        &acme("    id: {source: {value: always-the-same}}\n"),
        "id.source",
    );
}

#[test]
fn a_token_signs_nothing_so_nothing_may_claim_it_does() {
    let token = |extra: &str| {
        format!(
            "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-token, algorithm: token{extra}}}
    event: {{name: /type, data: /data}}
"
        )
    };
    let defs = load(&token(", prefix: \"Bearer \"")).unwrap();
    assert_eq!(defs.configured()[0].signature.algorithm, Algorithm::Token);
    refused(
        &token(", signed: \"{timestamp}.{body}\""),
        "signature.signed",
    );
    refused(&token(", encoding: base64"), "signature.encoding");
    refused(&token(", separator: \" \""), "signature.separator");
    // Compared as its sender sends it, never decoded first.
    refused(
        &token("").replace("{env: ACME_SECRET}", "{env: ACME_SECRET, encoding: base64}"),
        "secret.encoding",
    );
}

#[test]
fn a_timestamp_may_be_in_the_body_only_when_the_template_does_not_sign_it() {
    let defs = load(&acme(
        "    timestamp: {source: /sentAt, format: unix_ms, tolerance_secs: 60}\n",
    ))
    .unwrap();
    assert_eq!(
        defs.configured()[0]
            .timestamp
            .as_ref()
            .unwrap()
            .source
            .to_string(),
        "\"/sentAt\""
    );
    refused(
        "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature, signed: \"{timestamp}.{body}\"}
    timestamp: {source: /sentAt}
    event: {name: /type, data: /data}
",
        "timestamp.source",
    );
}

#[test]
fn timeout_ms_and_retries_are_bounded_and_named() {
    let defs = load(&acme("    timeout_ms: 2500\n    retries: none\n")).unwrap();
    let acme_def = &defs.configured()[0];
    assert_eq!(acme_def.timeout_ms, Some(2500));
    assert_eq!(acme_def.retries, Some(Retries::None));
    refused(&acme("    timeout_ms: 0\n"), "timeout_ms");
    refused(&acme("    timeout_ms: 300001\n"), "timeout_ms");
    let line = refused(&acme("    retries: sometimes\n"), "retries");
    assert!(line.contains("none, few, persistent"), "{line}");
}

#[test]
fn a_signed_url_is_stated_whole_without_its_query() {
    let signs_url = |url: &str| {
        format!(
            "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-signature, signed: \"{{url}}{{body}}\"}}
    event: {{name: /type, data: /data}}
{url}"
        )
    };
    let defs = load(&signs_url("    url: https://hooks.example.com/acme\n")).unwrap();
    assert_eq!(
        defs.configured()[0].url.as_deref(),
        Some("https://hooks.example.com/acme")
    );
    let line = refused(&signs_url(""), "url");
    assert!(line.contains("uses {url}"), "{line}");
    for bad in [
        "https://hooks.example.com/acme?x=1",
        "https://hooks.example.com/acme#top",
        "hooks.example.com/acme",
    ] {
        refused(&signs_url(&format!("    url: \"{bad}\"\n")), "url");
    }
    refused(&acme("    url: https://hooks.example.com/acme\n"), "url");
}

#[test]
fn a_form_body_and_its_sorted_fields_go_together() {
    let defs = load(&acme("    body: form\n    form: {json: payload}\n")).unwrap();
    let acme_def = &defs.configured()[0];
    assert_eq!(acme_def.body, Body::Form);
    assert_eq!(
        acme_def.form.as_ref().unwrap().json.as_deref(),
        Some("payload")
    );
    refused(&acme("    form: {json: payload}\n"), "form");
    refused(
        &acme("    body: form\n    form: {json: \"\"}\n"),
        "form.json",
    );
    refused(
        "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature, signed: \"{form_sorted}\"}
    event: {name: /type, data: /data}
",
        "signature.signed",
    );
}

#[test]
fn a_batch_points_at_its_items_and_names_their_ids_itself() {
    let defs = load(&acme("    batch: {items: /data/events, id: /uuid}\n")).unwrap();
    let batch = defs.configured()[0].batch.clone().unwrap();
    assert_eq!(batch.items.as_str(), "/data/events");
    assert_eq!(batch.id.len(), 1);
    refused(&acme("    batch: {id: /uuid}\n"), "batch.items");
    let line = refused(&acme("    batch: {items: data}\n"), "batch");
    assert!(line.contains("not a JSON pointer"), "{line}");
    refused(
        &acme("    id: {source: {header: x-id}}\n    batch: {items: \"\"}\n"),
        "id",
    );
    refused(&acme("    body: any\n    batch: {items: \"\"}\n"), "batch");
}

#[test]
fn a_token_in_the_body_replaces_the_header_and_needs_a_token_scheme() {
    let with = |signature: &str| {
        format!(
            "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {signature}
    event: {{name: /type, data: /data}}
"
        )
    };
    let defs = load(&with("{algorithm: token, source: /state}")).unwrap();
    assert!(defs.configured()[0].signature.header.is_none());
    refused(
        &with("{algorithm: sha256, source: /state}"),
        "signature.source",
    );
    refused(
        &with("{header: x-a, algorithm: token, source: /state}"),
        "signature.header",
    );
    refused(&with("{algorithm: token}"), "signature.header");
}

#[test]
fn a_key_beside_a_secret_needs_a_key_prefix_and_a_variable_of_its_own() {
    let defs = load(
        "providers:\n  - {name: acme, preset: standard-webhooks, secret: {env: ACME_SECRET}, key: {env: ACME_KEY}}\n",
    )
    .unwrap();
    assert_eq!(
        defs.configured()[0].key.as_ref().unwrap().encoding,
        SecretEncoding::Whpk
    );
    refused(&acme("    key: {env: ACME_KEY}\n"), "key");
    refused(
        "providers:\n  - {name: acme, preset: standard-webhooks, secret: {env: ACME_SECRET}, key: {env: ACME_SECRET}}\n",
        "key.env",
    );
    refused(
        "providers:\n  - {name: acme, preset: github, secret: {env: ACME_SECRET}, signature: {key_prefix: \"v1a,\"}}\n",
        "signature.key_prefix",
    );
}
