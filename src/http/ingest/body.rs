//! Reading a request's body: within the size limit (from `Content-Length`
//! before reading anything, else while streaming), the body timeout, and the
//! memory budget for bodies not yet verified.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap};
use http_body_util::BodyExt;
use hyper::body::Body;

use super::Ingest;
use crate::http::budget::{Reservation, Reserve, SMALL_BODY_BYTES};
use crate::http::error::RequestError;

/// After a body proves too large, read at most this much more (within
/// [`DRAIN_TIME`]) so that a client still sending sees the 413 instead of a reset.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

impl Ingest {
    /// Reads the whole body within the body timeout, refusing it as soon as it
    /// exceeds the limit: from `Content-Length` before reading anything, or
    /// while streaming. The bytes are held under a [`Reservation`] of the
    /// buffer budget, taken before the first byte is read.
    pub(super) async fn read_body<B>(
        &self,
        body: B,
        headers: &HeaderMap,
        own: &Reserve,
    ) -> Result<(Bytes, Reservation), RequestError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limit = self.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = std::pin::pin!(body);
        if declared.is_some_and(|len| len > limit as u64) {
            // Reading would make hyper send `100 Continue`, inviting the upload.
            if !expects_continue(headers) {
                drain(body.as_mut()).await;
            }
            return Err(RequestError::TooLarge);
        }
        // Reserved before reading: hyper sends `100 Continue` only once polled.
        let first = declared.map_or(SMALL_BODY_BYTES.min(limit), |len| len as usize);
        let mut reservation = self.budget.reserve(own, first).await?;
        let read = async {
            let mut buffer = BodyBuffer::default();
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame.map_err(|_| RequestError::BadBody)?.into_data() else {
                    continue; // trailers
                };
                let total = buffer.len() + data.len();
                if total > limit {
                    return Err(RequestError::TooLarge);
                }
                reservation.cover(&self.budget, total, limit).await?;
                buffer.push(data, reservation.bytes());
            }
            Ok(buffer.finish())
        };
        let result = match tokio::time::timeout(self.body_timeout, read).await {
            Err(_) => Err(RequestError::BodyTimeout),
            Ok(result) => result,
        };
        if matches!(result, Err(RequestError::TooLarge)) {
            drain(body.as_mut()).await;
        }
        result.map(|bytes| (bytes, reservation))
    }
}

/// A body's bytes as they arrive. The first frame is kept as it is (one frame
/// is the common case: no copy); from the second on, the bytes are copied into
/// one buffer sized by the reservation, so a body sent as thousands of tiny
/// chunks costs its size, not a handle per chunk that also pins hyper's read
/// buffers (which would hold far more memory than the budget counts).
#[derive(Default)]
struct BodyBuffer {
    first: Option<Bytes>,
    joined: BytesMut,
}

impl BodyBuffer {
    fn len(&self) -> usize {
        self.first.as_ref().map_or(self.joined.len(), Bytes::len)
    }

    fn push(&mut self, data: Bytes, capacity: usize) {
        if self.first.is_none() && self.joined.is_empty() {
            self.first = Some(data);
            return;
        }
        if let Some(first) = self.first.take() {
            self.joined.reserve(capacity.max(first.len() + data.len()));
            self.joined.extend_from_slice(&first);
        }
        self.joined.extend_from_slice(&data);
    }

    fn finish(self) -> Bytes {
        self.first.unwrap_or_else(|| self.joined.freeze())
    }
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Reads and discards up to [`DRAIN_BYTES`] within [`DRAIN_TIME`].
async fn drain<B: Body<Data = Bytes>>(mut body: std::pin::Pin<&mut B>) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_in_many_frames_becomes_one_buffer_of_its_size() {
        let mut one = BodyBuffer::default();
        one.push(Bytes::from_static(b"{}"), 2);
        assert_eq!(one.finish(), Bytes::from_static(b"{}"));

        let mut many = BodyBuffer::default();
        for _ in 0..1000 {
            many.push(Bytes::from_static(b"x"), 1000);
            assert!(many.len() <= 1000);
        }
        let capacity = many.joined.capacity();
        assert!(
            (1000..2000).contains(&capacity),
            "one allocation, sized by the reservation: {capacity}"
        );
        assert_eq!(many.finish(), Bytes::from(vec![b'x'; 1000]));
    }
}
