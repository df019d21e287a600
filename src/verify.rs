//! Signature verification: the only way to obtain a [`Verified`] body.
//!
//! A provider's scheme says which headers carry the signature (and optionally a
//! signed timestamp) and which bytes are signed. Every scheme here is
//! HMAC-SHA256 with hex output, keyed by one of several secrets so that a
//! provider's secret can be rotated without downtime.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// A value that has passed signature verification. Only [`verify`] builds one,
/// so code that takes a `Verified<_>` cannot be handed unauthenticated bytes.
#[derive(Debug)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub fn get(&self) -> &T {
        &self.0
    }
}

/// How one provider signs its requests.
#[derive(Debug, Clone, Copy)]
pub struct Scheme {
    /// Header holding the hex HMAC-SHA256 signature.
    pub signature_header: &'static str,
    /// Header holding the signed timestamp; when set, the signed bytes are
    /// `<timestamp>.<body>` and stale timestamps are refused.
    pub timestamp_header: Option<&'static str>,
    /// A prefix the signature may carry (`sha256=`), stripped before decoding.
    pub signature_prefix: Option<&'static str>,
}

/// Why a request was refused. Each answers 401 with its code, which is also
/// its `reason` label of `webhook_signature_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature or timestamp header missing")]
    Missing,
    #[error("signature or timestamp header malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the replay window")]
    StaleTimestamp,
}

impl VerifyError {
    pub const ALL: [VerifyError; 4] = [
        VerifyError::Missing,
        VerifyError::Malformed,
        VerifyError::Mismatch,
        VerifyError::StaleTimestamp,
    ];

    /// The response code, and the `reason` label of
    /// `webhook_signature_failures_total`: one name for one failure.
    pub fn code(self) -> &'static str {
        match self {
            VerifyError::Missing => "signature_missing",
            VerifyError::Malformed => "signature_malformed",
            VerifyError::Mismatch => "signature_mismatch",
            VerifyError::StaleTimestamp => "timestamp_outside_window",
        }
    }
}

/// One provider's secrets, kept as keyed HMAC states (keying once at start-up
/// instead of per request). Any one of them verifies a request.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<HmacSha256>,
}

impl fmt::Debug for KeyRing {
    // Never print key material: only how many secrets there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} secrets, redacted)", self.keys.len())
    }
}

impl KeyRing {
    /// Keys from the secrets' UTF-8 bytes. Callers guarantee `secrets` is non-empty
    /// and has no empty element (configuration refuses both).
    pub fn new<S: AsRef<str>>(secrets: &[S]) -> KeyRing {
        let keys = secrets
            .iter()
            .map(|s| {
                HmacSha256::new_from_slice(s.as_ref().as_bytes())
                    .expect("HMAC takes any key length")
            })
            .collect();
        KeyRing { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// True when the signature matches under any key. Every key is tried, and each
    /// comparison is constant time, so timing reveals neither the signature nor
    /// which key matched.
    fn matches(&self, signed: &[&[u8]], signature: &[u8; 32]) -> bool {
        let mut any = Choice::from(0);
        for key in &self.keys {
            let mut mac = key.clone();
            for part in signed {
                mac.update(part);
            }
            any |= mac.finalize().into_bytes().as_slice().ct_eq(signature);
        }
        any.into()
    }
}

/// Verifies `body` against `scheme` with `keys`. `now` and `tolerance` bound a
/// signed timestamp (ignored by schemes without one).
pub fn verify<B: AsRef<[u8]>>(
    scheme: &Scheme,
    keys: &KeyRing,
    headers: &HeaderMap,
    body: B,
    now: SystemTime,
    tolerance: Duration,
) -> Result<Verified<B>, VerifyError> {
    let signature = headers
        .get(scheme.signature_header)
        .ok_or(VerifyError::Missing)?;
    let timestamp = match scheme.timestamp_header {
        Some(name) => Some(headers.get(name).ok_or(VerifyError::Missing)?),
        None => None,
    };
    let signature = decode_signature(signature.as_bytes(), scheme.signature_prefix)?;
    let signed_at = match timestamp {
        Some(value) => Some(parse_timestamp(value.as_bytes()).ok_or(VerifyError::Malformed)?),
        None => None,
    };

    let matched = match timestamp {
        Some(ts) => keys.matches(&[ts.as_bytes(), b".", body.as_ref()], &signature),
        None => keys.matches(&[body.as_ref()], &signature),
    };
    if !matched {
        return Err(VerifyError::Mismatch);
    }
    // Checked after the MAC so that `timestamp_outside_window` counts authentic requests
    // only (replays and clock skew), not forgeries.
    if let Some(signed_at) = signed_at {
        let skew = match now.duration_since(signed_at) {
            Ok(age) => age,
            Err(ahead) => ahead.duration(),
        };
        if skew > tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
    }
    Ok(Verified(body))
}

/// Hex (either case), optionally behind the scheme's prefix, 32 bytes once decoded.
fn decode_signature(value: &[u8], prefix: Option<&str>) -> Result<[u8; 32], VerifyError> {
    let value = value.trim_ascii();
    let value = match prefix {
        Some(p)
            if value.len() >= p.len() && value[..p.len()].eq_ignore_ascii_case(p.as_bytes()) =>
        {
            &value[p.len()..]
        }
        _ => value,
    };
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out).map_err(|_| VerifyError::Malformed)?;
    Ok(out)
}

/// Unix milliseconds when all digits and at least 10^11 (10^11 seconds is year
/// 5138, 10^11 ms is 1973), other all-digit values Unix seconds, else RFC 3339.
pub fn parse_timestamp(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?;
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = text.parse().ok()?;
        let since_epoch = if n >= 100_000_000_000 {
            Duration::from_millis(n)
        } else {
            Duration::from_secs(n)
        };
        return UNIX_EPOCH.checked_add(since_epoch);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    // Seconds and nanoseconds apart: u64 nanoseconds end in the year 2554.
    let nanos = parsed.unix_timestamp_nanos();
    let magnitude = nanos.unsigned_abs();
    let offset = Duration::new(
        u64::try_from(magnitude / 1_000_000_000).ok()?,
        (magnitude % 1_000_000_000) as u32,
    );
    if nanos >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const M2M: Scheme = Scheme {
        signature_header: "x-m2m-signature",
        timestamp_header: Some("x-m2m-timestamp"),
        signature_prefix: Some("sha256="),
    };
    const TRANSFERS: Scheme = Scheme {
        signature_header: "x-transfers-signature",
        timestamp_header: None,
        signature_prefix: None,
    };
    const TOLERANCE: Duration = Duration::from_secs(300);
    const NOW_SECS: u64 = 1_790_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    /// The reference computation, written independently of `KeyRing`.
    fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn m2m_headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-m2m-timestamp", HeaderValue::from_str(ts).unwrap());
        h.insert("x-m2m-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    fn transfers_headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-transfers-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    fn m2m(keys: &KeyRing, ts: &str, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        verify(&M2M, keys, &m2m_headers(ts, sig), body, now(), TOLERANCE).map(|_| ())
    }

    fn transfers(keys: &KeyRing, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        verify(
            &TRANSFERS,
            keys,
            &transfers_headers(sig),
            body,
            now(),
            TOLERANCE,
        )
        .map(|_| ())
    }

    const BODY: &[u8] = br#"{"event":"operation.created","data":{"operationId":"op-1"}}"#;

    fn m2m_sig(secret: &str, ts: &str, body: &[u8]) -> String {
        hmac_hex(secret, &[ts.as_bytes(), b".", body])
    }

    #[test]
    fn m2m_valid_signature_verifies_with_and_without_prefix_in_either_case() {
        let keys = KeyRing::new(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()));
        assert_eq!(m2m(&keys, &ts, &format!("sha256={sig}"), BODY), Ok(()));
        assert_eq!(m2m(&keys, &ts, &sig.to_uppercase(), BODY), Ok(()));
        assert_eq!(
            m2m(&keys, &ts, &format!("sha256={}", sig.to_uppercase()), BODY),
            Ok(())
        );
    }

    #[test]
    fn m2m_every_changed_byte_of_body_or_signature_fails() {
        let keys = KeyRing::new(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                m2m(&keys, &ts, &sig, &body),
                Err(VerifyError::Mismatch),
                "body byte {i}"
            );
        }
        let raw = hex::decode(&sig).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                m2m(&keys, &ts, &hex::encode(&bad), BODY),
                Err(VerifyError::Mismatch),
                "sig byte {i}"
            );
        }
    }

    #[test]
    fn m2m_signed_timestamp_cannot_be_swapped() {
        let keys = KeyRing::new(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        let other = (NOW_SECS + 1).to_string();
        assert_eq!(m2m(&keys, &other, &sig, BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn wrong_secret_fails_and_any_secret_of_a_rotation_list_verifies() {
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("new-secret", &ts, BODY);
        assert_eq!(
            m2m(&KeyRing::new(&["old-secret"]), &ts, &sig, BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            m2m(
                &KeyRing::new(&["old-secret", "new-secret"]),
                &ts,
                &sig,
                BODY
            ),
            Ok(())
        );
        let tsig = hmac_hex("new-secret", &[BODY]);
        assert_eq!(
            transfers(&KeyRing::new(&["old-secret"]), &tsig, BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            transfers(&KeyRing::new(&["old-secret", "new-secret"]), &tsig, BODY),
            Ok(())
        );
    }

    #[test]
    fn m2m_missing_headers_are_refused_as_missing() {
        let keys = KeyRing::new(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        let mut only_sig = HeaderMap::new();
        only_sig.insert("x-m2m-signature", HeaderValue::from_str(&sig).unwrap());
        let mut only_ts = HeaderMap::new();
        only_ts.insert("x-m2m-timestamp", HeaderValue::from_str(&ts).unwrap());
        for headers in [HeaderMap::new(), only_sig, only_ts] {
            let got = verify(&M2M, &keys, &headers, BODY, now(), TOLERANCE).map(|_| ());
            assert_eq!(got, Err(VerifyError::Missing));
        }
    }

    #[test]
    fn m2m_timestamps_in_seconds_milliseconds_and_rfc3339_verify() {
        let keys = KeyRing::new(&["k"]);
        for ts in [
            NOW_SECS.to_string(),
            (NOW_SECS * 1000 + 250).to_string(),
            "2026-09-21T14:13:20Z".to_string(), // NOW_SECS in RFC 3339
            "2026-09-21T16:13:20+02:00".to_string(),
        ] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()), "timestamp {ts}");
        }
    }

    #[test]
    fn m2m_stale_and_future_timestamps_are_refused() {
        let keys = KeyRing::new(&["k"]);
        for ts in [
            (NOW_SECS - 301).to_string(),
            (NOW_SECS + 301).to_string(),
            ((NOW_SECS - 301) * 1000).to_string(),
            "2026-09-21T14:07:00Z".to_string(),
        ] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(
                m2m(&keys, &ts, &sig, BODY),
                Err(VerifyError::StaleTimestamp),
                "timestamp {ts}"
            );
        }
        // Just inside the window on both sides.
        for ts in [(NOW_SECS - 300).to_string(), (NOW_SECS + 300).to_string()] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()), "timestamp {ts}");
        }
    }

    #[test]
    fn m2m_malformed_timestamps_are_refused() {
        let keys = KeyRing::new(&["k"]);
        for ts in [
            "",
            "yesterday",
            "12.5",
            "-1700000000",
            "2026-09-21",
            "99999999999999999999999",
        ] {
            let sig = m2m_sig("k", ts, BODY);
            assert_eq!(
                m2m(&keys, ts, &sig, BODY),
                Err(VerifyError::Malformed),
                "timestamp {ts:?}"
            );
        }
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let keys = KeyRing::new(&["k"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("k", &ts, BODY);
        for bad in [
            "",
            "sha256=",
            "zz",
            &sig[..62],
            &format!("{sig}00"),
            "md5=abcd",
        ] {
            assert_eq!(
                m2m(&keys, &ts, bad, BODY),
                Err(VerifyError::Malformed),
                "signature {bad:?}"
            );
            assert_eq!(
                transfers(&keys, bad, BODY),
                Err(VerifyError::Malformed),
                "signature {bad:?}"
            );
        }
    }

    #[test]
    fn transfers_valid_signature_verifies_in_either_hex_case() {
        let keys = KeyRing::new(&["token"]);
        let sig = hmac_hex("token", &[BODY]);
        assert_eq!(transfers(&keys, &sig, BODY), Ok(()));
        assert_eq!(transfers(&keys, &sig.to_uppercase(), BODY), Ok(()));
    }

    #[test]
    fn transfers_every_changed_byte_of_body_or_signature_fails() {
        let keys = KeyRing::new(&["token"]);
        let sig = hmac_hex("token", &[BODY]);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x20;
            assert_eq!(
                transfers(&keys, &sig, &body),
                Err(VerifyError::Mismatch),
                "body byte {i}"
            );
        }
        let raw = hex::decode(&sig).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                transfers(&keys, &hex::encode(&bad), BODY),
                Err(VerifyError::Mismatch),
                "sig byte {i}"
            );
        }
    }

    #[test]
    fn transfers_missing_signature_is_refused() {
        let keys = KeyRing::new(&["token"]);
        let got = verify(&TRANSFERS, &keys, &HeaderMap::new(), BODY, now(), TOLERANCE).map(|_| ());
        assert_eq!(got, Err(VerifyError::Missing));
    }

    #[test]
    fn empty_body_verifies_when_signed_and_fails_when_not() {
        let keys = KeyRing::new(&["token"]);
        assert_eq!(transfers(&keys, &hmac_hex("token", &[b""]), b""), Ok(()));
        assert_eq!(
            transfers(&keys, &hmac_hex("token", &[b"x"]), b""),
            Err(VerifyError::Mismatch)
        );
        let ts = NOW_SECS.to_string();
        assert_eq!(m2m(&keys, &ts, &m2m_sig("token", &ts, b""), b""), Ok(()));
    }

    #[test]
    fn key_ring_debug_shows_no_secret() {
        let shown = format!("{:?}", KeyRing::new(&["hunter2-secret"]));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
