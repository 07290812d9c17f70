//! gzip bodies, as scrape targets send them with `Content-Encoding: gzip`.

use std::io::Write as _;

use flate2::write::GzEncoder;

/// Compression levels for [`gzip_at`].
pub use flate2::Compression;

/// `data` as one gzip member at the default level, what client libraries
/// send.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_at(data, Compression::default())
}

/// `data` as one gzip member at `level`: `best` for the highest ratio a
/// body can reach, `fast` for the least work.
#[expect(clippy::expect_used, reason = "writing into a Vec cannot fail")]
pub fn gzip_at(data: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(data).expect("writing into a Vec");
    encoder.finish().expect("writing into a Vec")
}

#[cfg(test)]
mod tests {
    use flate2::read::MultiGzDecoder;

    use super::*;

    fn gunzip(body: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        std::io::copy(&mut MultiGzDecoder::new(body), &mut plain).unwrap();
        plain
    }

    #[test]
    fn every_level_round_trips() {
        let plain = b"up 1\nscrape_duration_seconds 0.01\n".repeat(100);
        for level in [
            Compression::fast(),
            Compression::default(),
            Compression::best(),
        ] {
            let body = gzip_at(&plain, level);
            assert_eq!(body[..3], [0x1f, 0x8b, 8], "gzip magic and deflate");
            assert!(body.len() < plain.len(), "{level:?}");
            assert_eq!(gunzip(&body), plain, "{level:?}");
        }
        assert_eq!(gunzip(&gzip(&plain)), plain);
        assert_eq!(gunzip(&gzip(b"")), b"");
    }
}
