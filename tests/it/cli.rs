//! The binary as an operator meets it: exit codes, `--help`, and `sign`, whose
//! output must verify with a running gateway, for the built-ins and for a
//! configured provider of each scheme family.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::common::*;
use crate::configured;

fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the gateway binary");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn bad_configuration_exits_64_with_one_line_naming_the_setting() {
    for (env, setting) in [
        (
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                ("GATEWAY_MAX_BODY_BYTES", "lots"),
            ],
            "GATEWAY_MAX_BODY_BYTES",
        ),
        (vec![], "KAFKA_BOOTSTRAP_SERVERS"),
        (
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                ("KAFKA_NOT_A_PROPERTY", "1"),
            ],
            "KAFKA_NOT_A_PROPERTY",
        ),
        (
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                ("M2M_WEBHOOK_SECRET", "a,,b"),
            ],
            "M2M_WEBHOOK_SECRET",
        ),
        (
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                ("GATEWAY_MAX_BODY_BYTES", "18446744073709551615"),
            ],
            "GATEWAY_MAX_BODY_BYTES",
        ),
    ] {
        let out = run(&[], &env, b"");
        assert_eq!(out.status.code(), Some(64), "{setting}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(setting), "{stderr}");
    }
    let out = run(&["--no-such-flag"], &[], b"");
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn a_bad_flag_value_is_refused_as_its_variable_is() {
    let broker = ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");
    let flag = run(&["--max-inflight", "many"], &[broker], b"");
    let var = run(&[], &[broker, ("GATEWAY_MAX_INFLIGHT", "many")], b"");
    for out in [&flag, &var] {
        assert_eq!(out.status.code(), Some(64), "{out:?}");
    }
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert_eq!(stderr, String::from_utf8_lossy(&var.stderr));
    assert_eq!(
        stderr.trim_end(),
        "webhook-gateway: configuration error: GATEWAY_MAX_INFLIGHT: expected a whole number from 1 to 1000000 (requests), got `many`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_up_line_shows_kafka_settings_but_never_a_credential() {
    // No broker needed: the line is written once the listeners are bound.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let env: HashMap<String, String> = [
        ("KAFKA_BOOTSTRAP_SERVERS", nowhere.as_str()),
        ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        ("KAFKA_SASL_MECHANISM", "OAUTHBEARER"),
        ("KAFKA_ENABLE_SASL_OAUTHBEARER_UNSECURE_JWT", "true"),
        (
            "KAFKA_SASL_OAUTHBEARER_CONFIG",
            "principal=svc extension_apikey=hunter2-oauth",
        ),
        ("KAFKA_LINGER_MS", "7"),
        ("M2M_WEBHOOK_SECRET", M2M_SECRET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut gateway = Process::start(&env, Stdio::piped());
    gateway.wait_listening().await;
    gateway.child.kill().unwrap();
    let logs = gateway.stderr_to_end();
    let line = logs
        .lines()
        .find(|l| l.contains("webhook-gateway listening"))
        .unwrap_or_else(|| panic!("no start-up line in {logs}"));
    assert!(line.contains("sasl.oauthbearer.config"), "{line}");
    assert!(line.contains("OAUTHBEARER"), "{line}");
    assert!(!logs.contains("hunter2"), "{logs}");
    assert!(!logs.contains(M2M_SECRET), "{logs}");
}

#[test]
fn help_documents_the_variables_and_never_shows_their_values() {
    let env = [
        ("GATEWAY_TOPIC_PREFIX", "hidden-prefix-value"),
        ("GATEWAY_PROVIDERS_FILE", "/hidden/providers-file-value"),
        ("M2M_WEBHOOK_SECRET", "hunter2-value"),
    ];
    let out = run(&["--help"], &env, b"");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "GATEWAY_LISTEN_ADDR",
        "GATEWAY_PUBLISH_TIMEOUT_MS",
        "GATEWAY_MAX_BODY_BYTES",
        "M2M_WEBHOOK_SECRET",
        "KAFKA_",
    ] {
        assert!(help.contains(var), "--help names {var}");
    }
    assert!(
        help.contains("[env: GATEWAY_TOPIC_PREFIX] [default: webhooks]"),
        "{help}"
    );
    for args in [
        &["--help"][..],
        &["providers", "show", "--help"],
        &["topics", "check", "--help"],
        &["sign", "--help"],
    ] {
        let out = run(args, &env, b"");
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("GATEWAY_PROVIDERS_FILE"), "{args:?}: {help}");
        assert!(
            !help.contains("hidden-") && !help.contains("hunter2"),
            "{args:?}: {help}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and curl: run by scripts/test.sh"]
async fn sign_output_verifies_with_the_gateway_for_both_providers() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("m2m");
    std::fs::write(&secret_file, format!("{M2M_SECRET}\n")).unwrap();

    let cases = [
        (
            "m2m",
            vec![
                "sign",
                "m2m",
                "--secret-file",
                secret_file.to_str().unwrap(),
            ],
            vec![],
        ),
        (
            "transfers",
            vec!["sign", "transfers"],
            vec![("TRANSFERS_SIGNATURE_TOKEN", TRANSFERS_SECRET)],
        ),
    ];
    for (provider, args, env) in cases {
        let body =
            format!(r#"{{"event":"signed.by.cli","data":{{"operationId":"{provider}-1"}}}}"#);
        let out = run(&args, &env, body.as_bytes());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let headers: Vec<(String, String)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").expect("`name: value` lines");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let reply = request(
            gateway.public,
            "POST",
            &format!("/webhooks/{provider}"),
            &headers,
            body.into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200, "{provider}: {}", reply.text());
    }

    // --curl prints a command that works as printed.
    let url = format!("http://{}/webhooks/transfers", gateway.public);
    let body = br#"{"event":"Payment.Status","data":{"status":"Failed","paymentReference":"it's-quoted"}}"#;
    let out = run(
        &["sign", "transfers", "--curl", &url],
        &[("TRANSFERS_SIGNATURE_TOKEN", TRANSFERS_SECRET)],
        body,
    );
    let command = String::from_utf8(out.stdout).unwrap();
    let curl = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .await
        .expect("sh");
    let response = String::from_utf8_lossy(&curl.stdout);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{command}\n{response}"
    );
    gateway.stop().await;
}

#[test]
fn sign_without_a_secret_says_which_variables_it_reads() {
    let out = run(&["sign", "transfers"], &[], b"{}");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TRANSFERS_SIGNATURE_TOKEN"));
}

/// `sign` reads a secret by the gateway's rule: a variable and its `_FILE`
/// set together is refused, as the gateway refuses it, rather than one of
/// them quietly winning.
#[test]
fn sign_refuses_a_secret_set_both_ways_as_the_gateway_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m2m");
    std::fs::write(&file, "from-the-file\n").unwrap();
    let both = [
        ("M2M_WEBHOOK_SECRET", "from-the-variable"),
        ("M2M_WEBHOOK_SECRET_FILE", file.to_str().unwrap()),
    ];
    let refusal =
        "M2M_WEBHOOK_SECRET: set either M2M_WEBHOOK_SECRET or M2M_WEBHOOK_SECRET_FILE, not both";

    let sign = run(&["sign", "m2m"], &both, b"{}");
    assert_eq!(sign.status.code(), Some(64), "{sign:?}");
    let stderr = String::from_utf8_lossy(&sign.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(refusal), "{stderr}");
    assert!(sign.stdout.is_empty(), "nothing signed");

    let mut gateway_env = both.to_vec();
    gateway_env.push(("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"));
    let gateway = run(&[], &gateway_env, b"");
    assert_eq!(gateway.status.code(), Some(64), "{gateway:?}");
    assert!(String::from_utf8_lossy(&gateway.stderr).contains(refusal));

    // Either one alone signs; --secret-file, given outright, needs neither.
    for env in [&both[..1], &both[1..]] {
        let out = run(&["sign", "m2m"], env, b"{}");
        assert!(out.status.success(), "{env:?}: {out:?}");
    }
    let out = run(
        &["sign", "m2m", "--secret-file", file.to_str().unwrap()],
        &both,
        b"{}",
    );
    assert!(out.status.success(), "{out:?}");
}

const ACME: &str = "providers:
  - name: acme
    preset: stripe
    secret: {env: ACME_WEBHOOK_SECRET}
    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/object/id}
";

#[test]
fn a_bad_providers_file_exits_64_with_one_line_naming_file_provider_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.yaml");
    std::fs::write(
        &path,
        ACME.replace(
            "preset: stripe",
            "preset: stripe\n    signature: {prefix: \"v1=\"}",
        ),
    )
    .unwrap();
    let file = path.to_str().unwrap();
    for args in [vec![], vec!["providers", "show"]] {
        let out = run(
            &args,
            &[
                ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
                ("GATEWAY_PROVIDERS_FILE", file),
            ],
            b"",
        );
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!(
                "GATEWAY_PROVIDERS_FILE={file}: provider \"acme\": signature.fields: "
            )),
            "{stderr}"
        );
    }
}

#[test]
fn providers_show_prints_the_effective_definitions_without_secrets_or_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.yaml");
    std::fs::write(&path, ACME).unwrap();
    let env = [
        ("ACME_WEBHOOK_SECRET", "acme-secret-value"),
        ("M2M_WEBHOOK_SECRET", "m2m-secret-value"),
    ];
    let out = run(
        &[
            "providers",
            "show",
            "--providers-file",
            path.to_str().unwrap(),
        ],
        &env,
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    for shown in [
        "- name: m2m",
        "- name: transfers",
        "- name: acme",
        "header: stripe-signature",
        "env: ACME_WEBHOOK_SECRET",
        "env: M2M_WEBHOOK_SECRET",
    ] {
        assert!(stdout.contains(shown), "{shown}: {stdout}");
    }
    assert!(!stdout.contains("secret-value"), "{stdout}");

    let one = run(&["providers", "show", "transfers"], &env, b"");
    let stdout = String::from_utf8(one.stdout).unwrap();
    assert!(stdout.contains("- name: transfers") && !stdout.contains("name: m2m"));

    let unknown = run(&["providers", "show", "acme"], &env, b"");
    assert_eq!(unknown.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no provider `acme`"));
}

/// `sign` for configured providers, one of each scheme family, checked by a
/// running gateway and read back from the broker: the printed headers carry
/// what each definition signs, `--timestamp` and `--id` set those parts, and
/// `--header` adds what a definition routes by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and curl: run by scripts/test.sh"]
async fn sign_signs_as_each_definition_says_and_the_gateway_agrees() {
    let s = configured::setup().await;
    let file = s.dir.path().join("providers.yaml");
    let file = file.to_str().unwrap().to_owned();
    let secrets = configured::secrets();
    let env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sign = |provider: &str, extra: &[&str], body: &[u8]| {
        let mut args = vec!["sign", provider, "--providers-file", &file];
        args.extend(extra);
        run(&args, &env, body)
    };
    let headers = |out: Output| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let mut headers: Vec<(String, String)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").expect("`name: value` lines");
                (k.to_owned(), v.to_owned())
            })
            .collect();
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        headers
    };
    let post = |provider: &str, headers: Vec<(String, String)>, body: &[u8]| {
        let path = format!("/webhooks/{provider}");
        let body = body.to_vec();
        let public = s.gateway.public;
        async move {
            request(public, "POST", &path, &headers, body)
                .await
                .unwrap()
        }
    };
    let accepted = |reply: Reply| {
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    };
    let now = now_secs();

    // Plain: hex over the body, the first secret of the rotation list.
    let placed = br#"{"kind":"order.placed","payload":{"id":"o-7"}}"#;
    let hexa = accepted(post("hexa", headers(sign("hexa", &[], placed)), placed).await);

    // Timestamped: base64 SHA-512 over "<ms>:<body>", a base64 secret. The
    // timestamp given is the one signed and checked.
    let made = br#"{"type":"thing.made","data":{"thing":"t-7"}}"#;
    let ms = (now * 1000).to_string();
    let basey = accepted(
        post(
            "basey",
            headers(sign("basey", &["--timestamp", &ms], made)),
            made,
        )
        .await,
    );
    let stale = ((now - 3600) * 1000).to_string();
    let reply = post(
        "basey",
        headers(sign("basey", &["--timestamp", &stale], made)),
        made,
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "timestamp_outside_window");

    // Multi-signature: "v1,<base64>" over "{id}.{timestamp}.{body}", a whsec
    // secret. The id given decides the event id: re-signed later, same event.
    let note = br#"{"type":"note.added","data":{"note":"n-7"}}"#;
    let (t1, t2) = (now.to_string(), (now - 5).to_string());
    let first = sign("multi", &["--id", "msg_7", "--timestamp", &t1], note);
    let multi = accepted(post("multi", headers(first), note).await);
    let again = sign("multi", &["--id", "msg_7", "--timestamp", &t2], note);
    assert_eq!(accepted(post("multi", headers(again), note).await), multi);

    // Fields ("t=..,v1=.."), through the printed curl command.
    let charge = br#"{"id":"evt_7","type":"charge","data":{"charge":"ch-7","state":"failed"}}"#;
    let url = format!("http://{}/webhooks/fieldy", s.gateway.public);
    let out = sign("fieldy", &["--timestamp", &t1, "--curl", &url], charge);
    let command = String::from_utf8(out.stdout).unwrap();
    let curl = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .output()
        .await
        .expect("sh");
    let response = String::from_utf8_lossy(&curl.stdout);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "{command}\n{response}"
    );
    let fieldy: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let fieldy = fieldy["id"].as_str().unwrap().to_owned();

    // Routed by headers: --header adds them (a content type included), and
    // without them sign says what the definition reads.
    let blob = b"plain text, not JSON";
    let with = [
        "--header",
        "x-blobby-event: file.uploaded",
        "-H",
        "X-Blobby-File:f-7",
        "--header",
        "content-type: text/plain",
    ];
    let blobby = accepted(post("blobby", headers(sign("blobby", &with, blob)), blob).await);
    let without = sign("blobby", &[], blob);
    assert!(
        String::from_utf8_lossy(&without.stderr)
            .contains("reads event.name from the header x-blobby-event"),
        "{without:?}"
    );

    // Read back: each on its type's topic, with the parts sign was given.
    let orders = configured::records(&s, "shared.orders", 1);
    assert_eq!(record_key(&orders[&hexa]), "o-7");
    assert_eq!(
        header(&orders[&hexa], "event-type").as_deref(),
        Some("hexa.order.placed")
    );
    let things = configured::records(&s, "webhooks.basey.thing.made", 1);
    assert_eq!(record_key(&things[&basey]), "t-7");
    let notes = configured::records(&s, "webhooks.multi.note.added", 2);
    assert_eq!(notes.len(), 1, "two deliveries, one event id");
    assert_eq!(value_json(&notes[&multi])["deliveryid"], "msg_7");
    let charges = configured::records(&s, "webhooks.fieldy.charge.failed", 1);
    assert_eq!(value_json(&charges[&fieldy])["deliveryid"], "evt_7");
    let blobs = configured::records(&s, "webhooks.blobby.file.uploaded", 1);
    assert_eq!(record_key(&blobs[&blobby]), "f-7");
    assert_eq!(value_json(&blobs[&blobby])["datacontenttype"], "text/plain");

    // A part the definition does not send is refused, not silently dropped.
    for (args, says) in [
        (vec!["hexa", "--timestamp", "1"], "signs no timestamp"),
        (vec!["basey", "--id", "d-1"], "has no delivery id"),
        (vec!["fieldy", "--id", "evt_1"], "from the body (\"/id\")"),
        (
            vec!["multi", "--header", "x-multi-id: m"],
            "writes x-multi-id itself",
        ),
        (
            vec!["blobby", "--header", "no colon"],
            "expected NAME: VALUE",
        ),
    ] {
        let out = sign(args[0], &args[1..], b"{}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    s.gateway.stop().await;
}
