//! Status codes and error bodies of the public port. None of these requests
//! reaches the broker, so the gateway points at a closed port.

use crate::common::*;

async fn gateway(extra: &[(&str, &str)]) -> Gateway {
    Gateway::start(gateway_env("127.0.0.1:1", extra)).await
}

#[tokio::test]
async fn unknown_paths_answer_404_and_known_paths_405_for_other_methods() {
    let gw = gateway(&[]).await;
    for path in [
        "/",
        "/webhooks",
        "/webhooks/",
        "/webhooks/other",
        "/webhooks/m2m/",
        "/metrics",
        "/healthz",
    ] {
        let reply = request(gw.public, "POST", path, &[], b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["error"], "not_found");
    }
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        let reply = request(gw.public, method, "/webhooks/transfers", &[], Vec::new())
            .await
            .unwrap();
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.headers["allow"], "POST");
    }
}

#[tokio::test]
async fn a_disabled_provider_answers_404() {
    let mut env = gateway_env("127.0.0.1:1", &[]);
    env.remove("M2M_WEBHOOK_SECRET");
    let gw = Gateway::start(env).await;
    let body = br#"{"event":"link.opened","data":{}}"#;
    assert_eq!(
        send_signed(gw.public, "m2m", body).await.unwrap().status,
        404
    );
    assert_eq!(
        request(gw.public, "GET", "/webhooks/m2m", &[], Vec::new())
            .await
            .unwrap()
            .status,
        404
    );
}

#[tokio::test]
async fn bodies_over_the_limit_answer_413_by_content_length_or_while_streaming() {
    let gw = gateway(&[("GATEWAY_MAX_BODY_BYTES", "1024")]).await;
    let big = vec![b'x'; 4096];
    let reply = send_signed(gw.public, "transfers", &big).await.unwrap();
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["error"], "body_too_large");

    // Chunked (no Content-Length), written by hand so the framing is exact.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let mut raw =
        b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..8 {
        raw.extend_from_slice(b"200\r\n");
        raw.extend_from_slice(&[b'y'; 0x200]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&raw).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
}

#[tokio::test]
async fn a_body_within_the_limit_is_not_refused_for_size() {
    let gw = gateway(&[("GATEWAY_MAX_BODY_BYTES", "1024")]).await;
    let reply = request(
        gw.public,
        "POST",
        "/webhooks/transfers",
        &[],
        vec![b'x'; 1024],
    )
    .await
    .unwrap();
    assert_eq!(
        reply.status, 401,
        "exactly the limit is read, then verified"
    );
}

#[tokio::test]
async fn error_bodies_are_short_json_reason_codes_without_secrets() {
    let gw = gateway(&[]).await;
    let reply = request(
        gw.public,
        "POST",
        "/webhooks/transfers",
        &[("x-transfers-signature".into(), "nothex".into())],
        b"{}".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 401);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.text(), r#"{"error":"signature_malformed"}"#);
    for secret in [M2M_SECRET, TRANSFERS_SECRET] {
        assert!(!reply.text().contains(secret));
    }
}

#[tokio::test]
async fn the_admin_port_serves_probes_and_the_public_port_does_not() {
    let gw = gateway(&[]).await;
    assert_eq!(get(gw.admin, "/healthz").await.unwrap().status, 200);
    // The broker is unreachable: start-up never completes.
    assert_eq!(get(gw.admin, "/readyz").await.unwrap().status, 503);
    let metrics = get(gw.admin, "/metrics").await.unwrap().text();
    assert!(
        metrics.contains("webhook_gateway_build_info{version="),
        "{metrics}"
    );
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(gw.public, path).await.unwrap().status, 404, "{path}");
    }
}
