//! Reading a request or response body whole, with a cap: the only way a body
//! is ever collected in promshard (clippy bans the uncapped `collect`).

use bytes::Bytes;
use http_body::Body;
use http_body_util::{BodyExt, Limited};

/// A body was larger than allowed, or failed while being read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyTooLarge {
    /// More than `limit` bytes.
    #[error("body larger than {limit} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
    /// The peer or the connection failed mid-body.
    #[error("reading body: {0}")]
    Read(String),
}

/// Reads `body` into memory, failing as soon as it exceeds `limit` bytes.
pub(crate) async fn read_body_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyTooLarge>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    #[allow(clippy::disallowed_methods, reason = "Limited caps the collected size")]
    let collected = Limited::new(body, limit).collect().await;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(BodyTooLarge::TooLarge { limit })
        }
        Err(e) => Err(BodyTooLarge::Read(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn reads_up_to_the_limit_and_refuses_more() {
        let ok = read_body_limited(Full::new(Bytes::from_static(b"12345")), 5)
            .await
            .unwrap();
        assert_eq!(ok, "12345");
        let err = read_body_limited(Full::new(Bytes::from_static(b"123456")), 5)
            .await
            .unwrap_err();
        assert!(matches!(err, BodyTooLarge::TooLarge { limit: 5 }));
    }
}
