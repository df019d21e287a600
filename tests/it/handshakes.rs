//! Handshakes end to end over real HTTP: each preset's challenge as its
//! sender's documentation shows the request, answered as the sender expects
//! (the HMAC-derived tokens recomputed by Python's `hmac`, signatures made by
//! Slack's SDK and PyNaCl), unsigned or wrong-token handshakes refused, a
//! hostile challenge never reflected, X's CRC no signing oracle, nothing on
//! any topic, answered while the broker is frozen and past a provider's own
//! rate, and every handshake counter exact.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::signers::*;
use crate::common::*;

const PROVIDERS: &str = r#"providers:
  - name: slack
    preset: slack
    secret: {env: SLACK_SIGNING_SECRET}
    limits: {rate: 1, burst: 1}
    events:
      - {name: message, type: slack.message, subject: /event/channel}
  - name: zoom
    preset: zoom
    secret: {env: ZOOM_SECRET_TOKEN}
    events:
      - {name: meeting.started, type: zoom.meeting.started, subject: /payload/object/id}
  - name: meta
    preset: meta
    secret: {env: META_APP_SECRET}
    handshake_secret: {env: META_VERIFY_TOKEN}
    events:
      - {name: page, type: meta.page, subject: /entry/0/id}
  - name: discord
    preset: discord
    key: {env: DISCORD_PUBLIC_KEY}
    events:
      - {name: APPLICATION_AUTHORIZED, type: discord.application_authorized, subject: /event/data/user/id}
  - name: dropbox
    preset: dropbox
    secret: {env: DROPBOX_APP_SECRET}
    limits: {rate: 1, burst: 1}
    events:
      - {name: notification, type: dropbox.notification, subject: /list_folder/accounts/0}
  - name: x
    preset: x
    secret: {env: X_CONSUMER_SECRET}
    events:
      - {name: account_activity, type: x.account_activity, subject: /for_user_id}
  - name: graph
    preset: microsoft-graph
    secret: {env: GRAPH_CLIENT_STATE}
    limits: {rate: 1, burst: 1}
    events:
      - {name: created, type: graph.created, subject: /resource}
  - name: okta
    preset: okta
    secret: {env: OKTA_HOOK_SECRET}
    events:
      - {name: user.session.start, type: okta.user.session.start, subject: /actor/id}
"#;

const SLACK_SECRET: &str = "slack-signing-secret";
const ZOOM_SECRET: &str = "zoom-secret-token";
const X_SECRET: &str = "x-consumer-secret";

/// What the gateway was asked, and what every handshake counter must read.
struct Run<'g> {
    gateway: &'g Gateway,
    counted: BTreeMap<(String, String, String), u32>,
}

impl Run<'_> {
    /// `method path` with `headers` and `body`; `expect` is the handshake
    /// counter it moves (`(handshake, outcome)`), if any.
    async fn ask(
        &mut self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
        expect: Option<(&str, &str)>,
    ) -> Reply {
        let reply = request(self.gateway.public, method, path, &headers, body.to_vec())
            .await
            .unwrap();
        if let Some((handshake, outcome)) = expect {
            let provider = path
                .trim_start_matches("/webhooks/")
                .split('?')
                .next()
                .unwrap();
            *self
                .counted
                .entry((provider.into(), handshake.into(), outcome.into()))
                .or_default() += 1;
        }
        reply
    }
}

impl Run<'_> {
    /// A GET of `path` without headers or body.
    async fn get(&mut self, path: &str, expect: Option<(&str, &str)>) -> Reply {
        self.ask("GET", path, vec![], b"", expect).await
    }

    /// A POST of `body` with `headers` to `/webhooks/<provider>`.
    async fn post(
        &mut self,
        provider: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
        expect: Option<(&str, &str)>,
    ) -> Reply {
        let path = format!("/webhooks/{provider}");
        self.ask("POST", &path, headers, body, expect).await
    }
}

/// Every declared handshake's every outcome reads what the test sent (0
/// where it sent none): a count under the wrong outcome shows too.
fn assert_counters(scrape: &str, counted: &BTreeMap<(String, String, String), u32>) {
    for (provider, handshake) in [
        ("slack", "url_verification"),
        ("zoom", "endpoint.url_validation"),
        ("meta", "hub.challenge"),
        ("discord", "ping"),
        ("dropbox", "challenge"),
        ("x", "crc"),
        ("graph", "validation"),
        ("okta", "verification"),
    ] {
        for outcome in ["answered", "unauthorized", "refused"] {
            let series = format!(
                r#"webhook_handshakes_total{{handshake="{handshake}",outcome="{outcome}",provider="{provider}"}}"#
            );
            let key = (provider.into(), handshake.into(), outcome.into());
            let sent = counted.get(&key).copied().unwrap_or(0);
            assert_eq!(metric_value(scrape, &series), f64::from(sent), "{series}");
        }
    }
}

fn slack_signed(body: &[u8]) -> Vec<(String, String)> {
    let ts = now_secs().to_string();
    json_headers(&[
        ("x-slack-request-timestamp", ts.clone()),
        (
            "x-slack-signature",
            slack_sdk_signature(SLACK_SECRET, &ts, body),
        ),
    ])
}

fn zoom_signed(body: &[u8]) -> Vec<(String, String)> {
    let ts = now_secs().to_string();
    let mut message = format!("v0:{ts}:").into_bytes();
    message.extend_from_slice(body);
    json_headers(&[
        ("x-zm-request-timestamp", ts),
        (
            "x-zm-signature",
            format!("v0={}", python_hmac_sha256(ZOOM_SECRET, "hex", &message)),
        ),
    ])
}

fn discord_signed(private: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = now_secs().to_string();
    let mut message = ts.clone().into_bytes();
    message.extend_from_slice(body);
    json_headers(&[
        ("x-signature-timestamp", ts),
        (
            "x-signature-ed25519",
            public_key_signature("ed25519", private, &message),
        ),
    ])
}

fn assert_text(reply: &Reply, body: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), body);
    assert_eq!(reply.headers["content-type"], "text/plain");
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn each_presets_handshake_is_answered_as_its_sender_expects_and_never_published() {
    let _serial = serial().await;
    let broker = Broker::start();
    let (discord_private, discord_public) = key_pair("ed25519");
    let (stranger_private, _) = key_pair("ed25519");
    let (gateway, dir) = gateway_with_providers(
        &broker,
        PROVIDERS,
        &[
            ("SLACK_SIGNING_SECRET", SLACK_SECRET),
            // Mid-rotation: Zoom signs with the second secret.
            (
                "ZOOM_SECRET_TOKEN",
                &format!("zoom-old-secret,{ZOOM_SECRET}"),
            ),
            ("META_APP_SECRET", "meta-app-secret"),
            ("META_VERIFY_TOKEN", "meatyhamhock"),
            ("DISCORD_PUBLIC_KEY", &discord_public),
            ("DROPBOX_APP_SECRET", "dropbox-app-secret"),
            ("X_CONSUMER_SECRET", X_SECRET),
            ("GRAPH_CLIENT_STATE", "graph-client-state"),
            ("OKTA_HOOK_SECRET", "my-shared-secret"),
        ],
    )
    .await;
    let mut run = Run {
        gateway: &gateway,
        counted: BTreeMap::new(),
    };

    // Every declared handshake is counted from the first scrape.
    let scrape = get(gateway.admin, "/metrics").await.unwrap().text();
    assert_counters(&scrape, &BTreeMap::new());

    // Slack: url_verification, signed by Slack's SDK; the challenge as text.
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    // Never limited: Slack's own rate is 1 a second, and five in a row pass.
    for _ in 0..5 {
        let reply = run
            .post(
                "slack",
                slack_signed(body),
                body,
                Some(("url_verification", "answered")),
            )
            .await;
        assert_text(
            &reply,
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        );
    }
    let unsigned = json_headers(&[]);
    let reply = run
        .post(
            "slack",
            unsigned.clone(),
            body,
            Some(("url_verification", "unauthorized")),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text());
    assert!(
        !reply.text().contains("3eZbrw"),
        "an unsigned challenge is not echoed"
    );
    // A GET where Slack declares none: 405, as for any provider without one.
    let reply = run.get("/webhooks/slack?challenge=1", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "POST");

    // Zoom: the plainToken and its hex HMAC under the secret that signed it.
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let reply = run
        .post(
            "zoom",
            zoom_signed(body),
            body,
            Some(("endpoint.url_validation", "answered")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
            "encryptedToken": python_hmac_sha256(ZOOM_SECRET, "hex", b"qgg8vlvZRS6UYooatFL8Aw"),
        })
    );
    let mut forged = zoom_signed(body);
    forged[1].1 = format!("v0={}", "0".repeat(64));
    let reply = run
        .post(
            "zoom",
            forged,
            body,
            Some(("endpoint.url_validation", "unauthorized")),
        )
        .await;
    assert_eq!(reply.status, 401);

    // A 20 kB plainToken, signed: refused whole, never truncated into a reply.
    let body = format!(
        r#"{{"payload":{{"plainToken":"{}"}},"event":"endpoint.url_validation"}}"#,
        "A".repeat(20_000)
    );
    let reply = run
        .post(
            "zoom",
            zoom_signed(body.as_bytes()),
            body.as_bytes(),
            Some(("endpoint.url_validation", "refused")),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(!reply.text().contains("AAAA"));

    // Meta: the verify token checked, hub.challenge echoed.
    let path =
        "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
    let reply = run.get(path, Some(("hub.challenge", "answered"))).await;
    assert_text(&reply, "1158201444");
    let wrong = "/webhooks/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
    let reply = run
        .get(wrong, Some(("hub.challenge", "unauthorized")))
        .await;
    assert_eq!(reply.status, 401);
    assert!(!reply.text().contains("1158201444"));
    let reply = run.get("/webhooks/meta?hub.mode=unsubscribe", None).await;
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (400, Some("not_a_handshake"))
    );
    let reply = run.ask("PUT", "/webhooks/meta", vec![], b"", None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.headers["allow"], "GET, POST");

    // Discord: a signed PING gets 204; a stranger's signature 401.
    let ping = br#"{"version":1,"application_id":"1234567890","type":0}"#;
    let reply = run
        .post(
            "discord",
            discord_signed(&discord_private, ping),
            ping,
            Some(("ping", "answered")),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    let reply = run
        .post(
            "discord",
            discord_signed(&stranger_private, ping),
            ping,
            Some(("ping", "unauthorized")),
        )
        .await;
    assert_eq!(reply.status, 401);

    // Dropbox: echoed as text with nosniff; past its own rate, still answered.
    for _ in 0..3 {
        let reply = run
            .get(
                "/webhooks/dropbox?challenge=abc123",
                Some(("challenge", "answered")),
            )
            .await;
        assert_text(&reply, "abc123");
    }
    // A hostile challenge: markup, 20 kB, control characters. Refused whole.
    for hostile in [
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
        "a".repeat(2_000),
        "abc%0D%0ASet-Cookie%3A%20x%3D1".to_owned(),
        "abc%00def".to_owned(),
    ] {
        let path = format!("/webhooks/dropbox?challenge={hostile}");
        let reply = run.get(&path, Some(("challenge", "refused"))).await;
        assert_eq!(reply.status, 400, "{}", reply.text());
        assert_eq!(reply.json()["error"], "handshake_value_refused");
        assert!(!reply.text().contains("script") && !reply.text().contains("aaaa"));
        assert!(reply.headers.get("set-cookie").is_none());
    }

    // X: the CRC's response token, base64 HMAC of crc_token under the consumer secret.
    let token = "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0";
    let path = format!("/webhooks/x?crc_token={token}&nonce=MTc2OTUxODI5MjkxNA");
    let reply = run.get(&path, Some(("crc", "answered"))).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let response = reply.json()["response_token"].as_str().unwrap().to_owned();
    assert_eq!(
        response,
        format!(
            "sha256={}",
            python_hmac_sha256(X_SECRET, "base64", token.as_bytes())
        )
    );
    // The forgery: post the token as an event body under the CRC's reply, the
    // signature X's events carry. It verifies nothing.
    let forged = json_headers(&[("x-twitter-webhooks-signature", response.clone())]);
    let reply = run.post("x", forged, token.as_bytes(), None).await;
    assert_eq!(
        reply.status,
        401,
        "the CRC signed no event: {}",
        reply.text()
    );
    // Nor can the CRC be asked to sign a JSON event.
    let path = "/webhooks/x?crc_token=%7B%22for_user_id%22%3A%221%22%7D";
    let reply = run.get(path, Some(("crc", "refused"))).await;
    assert_eq!(reply.status, 400);

    // Microsoft Graph: unsigned POST, empty body, the token decoded as text.
    let path = "/webhooks/graph?validationToken=Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+522a8e7e-096a-494c-aaf1-ac0dcfca45b7";
    let headers = vec![(
        "content-type".to_owned(),
        "text/plain; charset=utf-8".to_owned(),
    )];
    // Past Graph's own rate of one a second, every validation is still answered.
    for _ in 0..3 {
        let reply = run
            .ask(
                "POST",
                path,
                headers.clone(),
                b"",
                Some(("validation", "answered")),
            )
            .await;
        assert_text(
            &reply,
            "Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7",
        );
    }

    // Okta: the verification GET with its authorization header, checked.
    let challenge = "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg";
    let okta = |auth: &str| {
        vec![
            (
                "x-okta-verification-challenge".to_owned(),
                challenge.to_owned(),
            ),
            ("authorization".to_owned(), auth.to_owned()),
            ("accept".to_owned(), "application/json".to_owned()),
        ]
    };
    let reply = run
        .ask(
            "GET",
            "/webhooks/okta",
            okta("my-shared-secret"),
            b"",
            Some(("verification", "answered")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"verification": challenge}));
    let reply = run
        .ask(
            "GET",
            "/webhooks/okta",
            okta("not-it"),
            b"",
            Some(("verification", "unauthorized")),
        )
        .await;
    assert_eq!(reply.status, 401);

    // While the broker is frozen, handshakes are answered all the same.
    broker.freeze();
    let reply = run
        .get(
            "/webhooks/dropbox?challenge=frozen",
            Some(("challenge", "answered")),
        )
        .await;
    assert_text(&reply, "frozen");
    let body = br#"{"payload":{"plainToken":"whileFrozen"},"event":"endpoint.url_validation"}"#;
    let reply = run
        .post(
            "zoom",
            zoom_signed(body),
            body,
            Some(("endpoint.url_validation", "answered")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    broker.thaw();

    // Nothing reached any topic: only the one event posted now is there.
    let event = br#"{"for_user_id":"2244994945","tweet_create_events":[]}"#;
    let signed = json_headers(&[(
        "x-twitter-webhooks-signature",
        format!("sha256={}", python_hmac_sha256(X_SECRET, "base64", event)),
    )]);
    let reply = run.post("x", signed, event, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let file = dir.path().join("providers.yaml");
    let config = webhook_gateway::settings::Config::from_env(&gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap())],
    ))
    .expect("the providers file loads");
    let topics: Vec<String> = config
        .published
        .topics
        .all()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    let on_any: Vec<String> =
        faults::read_all_of(&broker.bootstrap(), &topics, Duration::from_secs(2))
            .iter()
            .map(|m| rdkafka::message::Message::topic(m).to_owned())
            .collect();
    assert_eq!(
        on_any,
        ["webhooks.x.account_activity"],
        "the event, and no handshake on any of {topics:?}"
    );

    // Every counter exact, and the Slack events still limited at their rate.
    let scrape = get(gateway.admin, "/metrics").await.unwrap().text();
    assert_counters(&scrape, &run.counted);
    assert_eq!(
        metric_value(
            &scrape,
            r#"webhook_requests_total{outcome="handshake",provider="dropbox"}"#
        ),
        4.0
    );
    let message = br#"{"type":"event_callback","event_id":"Ev01","event":{"type":"message","channel":"C01"}}"#;
    let first = gateway.post("slack", slack_signed(message), message).await;
    let second = gateway.post("slack", slack_signed(message), message).await;
    assert_eq!(
        (first.status, second.status),
        (200, 429),
        "events keep the provider's own rate: {}",
        second.text()
    );
}
