//! Every HTTP answer the gateway writes, built in one place: the webhook
//! answers (`{"id":…}`, `{"ids":[…]}`, a sender's own `accepted:`, a
//! handshake's reply, `{"error":…}` with their headers) and the admin port's plain-text ones.
//! Bodies are serialized, never formatted by hand.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::engine::handshake;
use crate::engine::pipeline::Reply;
use crate::http::error::RequestError;

pub type Answer = Response<Full<Bytes>>;

#[derive(Serialize)]
#[serde(untagged)]
enum AcceptedBody<'a> {
    One { id: &'a str },
    Several { ids: &'a [String] },
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
}

/// The broker has acknowledged every record of the request, `ids` their
/// event ids in order: the answer its provider's `reply` calls for.
pub fn acknowledged(reply: Reply<'_>, ids: &[String]) -> Answer {
    match (reply, ids) {
        (Reply::Ids, [id]) => json(StatusCode::OK, &AcceptedBody::One { id }),
        (Reply::Ids, ids) => json(StatusCode::OK, &AcceptedBody::Several { ids }),
        (Reply::Fixed(accepted), _) => fixed(
            accepted.status,
            accepted.content_type.as_deref(),
            Bytes::from(accepted.body.clone()),
        ),
    }
}

/// A handshake's reply (`engine::handshake`). Never sniffed as another
/// type, never cached: it echoes values of the request.
pub fn handshake(reply: handshake::Answer<'_>) -> Answer {
    let mut response = fixed(reply.status, reply.content_type, Bytes::from(reply.body));
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An answer on a sender's own terms: its status and content type, both
/// checked at start-up (a 2xx, a header value).
fn fixed(status: u16, content_type: Option<&str>, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(value) = content_type.and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The answer to a refused request: its status, its reason code, and the
/// headers the status calls for.
pub fn refused(error: &RequestError) -> Answer {
    let mut response = json(
        error.status(),
        &ErrorBody {
            error: error.code(),
        },
    );
    let headers = response.headers_mut();
    if let RequestError::MethodNotAllowed(allow) = error {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if let Some(secs) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // The rest of an oversized, slow, broken or unadmitted body may still be on the wire.
    if matches!(
        error,
        RequestError::TooLarge
            | RequestError::BodyTimeout
            | RequestError::BadBody
            | RequestError::BufferFull(_)
    ) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A plain-text answer of the admin port.
pub fn text(status: StatusCode, body: &'static str) -> Answer {
    with_body(status, Bytes::from_static(body.as_bytes()), "text/plain")
}

/// The Prometheus text exposition.
pub fn metrics(body: String) -> Answer {
    with_body(
        StatusCode::OK,
        Bytes::from(body),
        "text/plain; version=0.0.4",
    )
}

/// The consumer contract (AsyncAPI 3.0, JSON), rendered once at start-up.
pub fn contract(body: Bytes) -> Answer {
    with_body(StatusCode::OK, body, "application/json")
}

/// 405 on the admin port, which serves `GET` and `HEAD` only.
pub fn admin_method_not_allowed() -> Answer {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    response
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Answer {
    let body = serde_json::to_vec(body).expect("a struct of strings serializes");
    with_body(status, Bytes::from(body), "application/json")
}

fn with_body(status: StatusCode, body: Bytes, content_type: &'static str) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(answer: Answer) -> String {
        let bytes = answer.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn refusals_carry_their_code_and_the_headers_their_status_calls_for() {
        let answer = refused(&RequestError::MethodNotAllowed("POST"));
        assert_eq!(answer.status(), 405);
        assert_eq!(answer.headers()[header::ALLOW], "POST");
        assert_eq!(body(answer).await, r#"{"error":"method_not_allowed"}"#);

        let answer = refused(&RequestError::BufferFull(crate::http::budget::BudgetFull));
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers()[header::RETRY_AFTER], "1");
        assert_eq!(answer.headers()[header::CONNECTION], "close");

        let answer = refused(&RequestError::NotFound);
        assert!(answer.headers().get(header::CONNECTION).is_none());
        assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn an_accepted_webhook_gets_its_event_id() {
        let id = "24f9913523929ba00b3ba8e697aff91e".to_owned();
        let answer = acknowledged(Reply::Ids, std::slice::from_ref(&id));
        assert_eq!(answer.status(), 200);
        assert_eq!(body(answer).await, format!(r#"{{"id":"{id}"}}"#));
    }

    #[tokio::test]
    async fn a_request_of_other_than_one_record_gets_every_id_in_order() {
        let ids = ["a1".to_owned(), "b2".to_owned()];
        let answer = acknowledged(Reply::Ids, &ids);
        assert_eq!(body(answer).await, r#"{"ids":["a1","b2"]}"#);
        let answer = acknowledged(Reply::Ids, &[]);
        assert_eq!(answer.status(), 200);
        assert_eq!(body(answer).await, r#"{"ids":[]}"#);
    }

    #[tokio::test]
    async fn a_sender_that_wants_its_own_acknowledgement_gets_it() {
        let twiml = crate::definitions::Accepted {
            status: 200,
            content_type: Some("text/xml".into()),
            body: "<Response/>".into(),
        };
        let answer = acknowledged(Reply::Fixed(&twiml), &["a1".to_owned()]);
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()[header::CONTENT_TYPE], "text/xml");
        assert_eq!(body(answer).await, "<Response/>");

        let no_content = crate::definitions::Accepted {
            status: 204,
            content_type: None,
            body: String::new(),
        };
        let answer = acknowledged(Reply::Fixed(&no_content), &["a1".to_owned()]);
        assert_eq!(answer.status(), 204);
        assert!(answer.headers().get(header::CONTENT_TYPE).is_none());
        assert_eq!(body(answer).await, "");
    }
}
