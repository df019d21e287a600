//! Fault injection for the tests, compiled only with the `test-hooks` feature
//! (the integration tests turn it on through a dev-dependency on this crate):
//! never part of a release build. The publisher's hooks (`inject_fatal_error`,
//! `set_replacement_fault`) sit beside the code they break, under the same feature,
//! and so does the clock a test may hand the gateway (`Config::clock`).

/// A verified request with this content type panics right after verification,
/// as a bug in normalize or routing would. A header, not a body scan: test
/// builds (the e2e bench's gateway among them) pay one comparison a request.
pub const PANIC_CONTENT_TYPE: &str = "application/x-webhook-gateway-test-panic";

pub fn panic_on_request(content_type: Option<&str>) {
    if content_type == Some(PANIC_CONTENT_TYPE) {
        panic!("test hook: injected panic after verification");
    }
}
