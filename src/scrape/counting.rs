//! Counting a scrape on the side: the hooks the scrape path calls with every
//! chunk it forwards, and what they report when the body ends.
//!
//! Each wire chunk (still compressed, exactly as forwarded to Prometheus) is
//! shown to a [`ScrapeObserver`], which gives [`Counts`] back at the end: by
//! the sidecar's tee as the body streams through, by the coordinator's
//! explore as it reads a measuring scrape.
//! An observer never affects what Prometheus receives: it cannot fail the
//! scrape, and its errors are only recorded. Observers are made per scrape by
//! the job's [`CountingHooks`]; [`ExpositionCounting`] is the real one
//! (inflate gzip, then count with `promshard-parser`, then apply the job's
//! `metric_relabel_configs` through a [`MetricRelabel`]).
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use promshard::scrape::counting::{CountingHooks, ExpositionCounting, ResponseMeta};
//! use promshard::shard_api::{Role, ScrapeTarget, TargetId};
//!
//! let target = Arc::new(ScrapeTarget {
//!     id: TargetId("t1".into()),
//!     job: "node".into(),
//!     url: "http://127.0.0.1:9100/metrics".into(),
//!     labels: Default::default(),
//!     role: Role::Active,
//! });
//! let hooks = ExpositionCounting::default();
//! let meta = ResponseMeta { content_type: Some("text/plain; version=0.0.4"), content_encoding: None };
//! let mut observer = hooks.observer(&target, &meta);
//! observer.chunk(&Bytes::from_static(b"up 1\nup"));
//! observer.chunk(&Bytes::from_static(b"{a=\"b\"} 2\n"));
//! let counts = observer.finish(true);
//! assert_eq!((counts.samples, counts.kept, counts.decoded_bytes), (Some(2), Some(2), 17));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use promshard_parser::{DecodingCounter, Encoding, Format, SampleRef, SampleVisitor};

use crate::shard_api::{FamilyCount, ScrapeFormat, ScrapeTarget};

/// The response headers an observer is chosen by.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    /// `Content-Type`, if sent.
    pub content_type: Option<&'a str>,
    /// `Content-Encoding`, if sent.
    pub content_encoding: Option<&'a str>,
}

impl<'a> ResponseMeta<'a> {
    /// Read from a response's headers (a header that is not visible ASCII
    /// counts as not sent).
    pub(crate) fn from_headers(headers: &'a http::HeaderMap) -> Self {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            content_type: text(http::header::CONTENT_TYPE),
            content_encoding: text(http::header::CONTENT_ENCODING),
        }
    }
}

/// What an observer found in one scrape body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples, as Prometheus's `scrape_samples_scraped`; `None` when they
    /// could not be counted.
    pub samples: Option<u64>,
    /// Samples kept after `metric_relabel_configs`, as
    /// `scrape_samples_post_metric_relabeling`; `None` when unknown.
    pub kept: Option<u64>,
    /// Bytes after inflating the body (the wire bytes when not compressed).
    pub decoded_bytes: u64,
    /// The format the body was counted as.
    pub format: Option<ScrapeFormat>,
    /// The largest families by samples (at most `TOP_FAMILIES`), largest
    /// first, ties by name.
    pub top_families: Vec<FamilyCount>,
    /// Why counting failed or is incomplete, if it did.
    pub error: Option<String>,
}

/// How many families a scrape reports in [`Counts::top_families`].
pub(crate) const TOP_FAMILIES: usize = 10;

/// Watches the chunks of one scrape body as they are forwarded.
pub trait ScrapeObserver: Send {
    /// One chunk of the body, exactly as forwarded (still compressed).
    fn chunk(&mut self, wire: &Bytes);

    /// The body ended: `complete` is true when it ended cleanly, false when
    /// it was cut (the counts then describe the part seen).
    fn finish(self: Box<Self>, complete: bool) -> Counts;
}

/// Makes the observer for each scrape of a job's targets.
pub trait CountingHooks: Send + Sync + fmt::Debug {
    /// An observer for a successful (HTTP 200) response of `target`.
    fn observer(
        &self,
        target: &Arc<ScrapeTarget>,
        response: &ResponseMeta<'_>,
    ) -> Box<dyn ScrapeObserver>;
}

/// A job's `metric_relabel_configs`, as the lead's relabel engine applies
/// them (with the target's labels and `honor_labels`).
pub trait MetricRelabel: Send + Sync + fmt::Debug {
    /// Whether Prometheus keeps the sample of the series `labels` (the metric
    /// name as `__name__` included, in exposition order) scraped from `target`.
    fn keeps(&self, target: &ScrapeTarget, labels: &[(&str, &str)]) -> bool;
}

/// The real counting hooks: inflate, parse, count, relabel.
#[derive(Debug, Clone, Default)]
pub struct ExpositionCounting {
    /// The job's `metric_relabel_configs`; `None` when it has none (every
    /// sample is kept).
    pub metric_relabel: Option<Arc<dyn MetricRelabel>>,
}

impl CountingHooks for ExpositionCounting {
    fn observer(
        &self,
        target: &Arc<ScrapeTarget>,
        response: &ResponseMeta<'_>,
    ) -> Box<dyn ScrapeObserver> {
        let format = ScrapeFormat::from_content_type(response.content_type);
        let Some(encoding) = Encoding::from_header(response.content_encoding) else {
            let encoding = response.content_encoding.unwrap_or_default().to_owned();
            return Box::new(Uncountable { format, encoding });
        };
        let parser_format = match format {
            ScrapeFormat::PrometheusText => Format::Text,
            ScrapeFormat::OpenMetrics => Format::OpenMetrics,
            ScrapeFormat::Protobuf => Format::Protobuf,
        };
        Box::new(ParserObserver {
            counter: DecodingCounter::new(parser_format, encoding),
            format,
            relabel: self
                .metric_relabel
                .clone()
                .map(|rules| Relabel::new(rules, Arc::clone(target))),
        })
    }
}

/// Counts with `promshard-parser`, inflating first when compressed.
struct ParserObserver {
    counter: DecodingCounter,
    format: ScrapeFormat,
    relabel: Option<Relabel>,
}

/// Applies the job's metric relabeling to each sample and counts the kept.
struct Relabel {
    rules: Arc<dyn MetricRelabel>,
    target: Arc<ScrapeTarget>,
    kept: u64,
    /// Label buffers kept between samples (empty in between), so a sample
    /// costs no allocation once they have grown to the widest label set.
    unescaped: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    labels: Vec<(&'static str, &'static str)>,
}

impl Relabel {
    fn new(rules: Arc<dyn MetricRelabel>, target: Arc<ScrapeTarget>) -> Self {
        Self {
            rules,
            target,
            kept: 0,
            unescaped: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// Empties `buffer` and gives its allocation back typed for other
/// lifetimes: collecting a `vec::IntoIter` into a `Vec` of a type with the
/// same size and alignment reuses the allocation in place.
fn recycle<T, U>(mut buffer: Vec<T>) -> Vec<U> {
    buffer.clear();
    buffer.into_iter().filter_map(|_| None).collect()
}

impl SampleVisitor for Relabel {
    fn sample(&mut self, sample: &SampleRef<'_>) {
        let mut unescaped: Vec<(Cow<'_, str>, Cow<'_, str>)> =
            recycle(std::mem::take(&mut self.unescaped));
        unescaped.extend(sample.labels_with_name());
        let mut labels: Vec<(&str, &str)> = recycle(std::mem::take(&mut self.labels));
        labels.extend(unescaped.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        if self.rules.keeps(&self.target, &labels) {
            self.kept += 1;
        }
        self.labels = recycle(labels);
        self.unescaped = recycle(unescaped);
    }
}

impl ScrapeObserver for ParserObserver {
    fn chunk(&mut self, wire: &Bytes) {
        match &mut self.relabel {
            Some(relabel) => self.counter.feed_with(wire, relabel),
            None => self.counter.feed(wire),
        }
    }

    fn finish(self: Box<Self>, complete: bool) -> Counts {
        let Self {
            counter,
            format,
            relabel,
        } = *self;
        let (counts, kept) = match relabel {
            Some(mut relabel) => {
                let counts = counter.finish_with(&mut relabel);
                (counts, relabel.kept)
            }
            None => {
                let counts = counter.finish();
                let samples = counts.samples;
                (counts, samples)
            }
        };
        let error = match (&counts.error, complete) {
            (Some(error), _) => Some(error.to_string()),
            (None, false) => Some("body ended early; counts cover the part received".to_owned()),
            (None, true) => None,
        };
        Counts {
            samples: Some(counts.samples),
            kept: Some(kept),
            decoded_bytes: counts.bytes,
            format: Some(format),
            top_families: counts
                .top_families(TOP_FAMILIES)
                .into_iter()
                .map(|(name, samples)| FamilyCount {
                    name: name.to_owned(),
                    samples,
                })
                .collect(),
            error,
        }
    }
}

/// A `Content-Encoding` the parser cannot decode: nothing is counted, the
/// bytes still pass through.
struct Uncountable {
    format: ScrapeFormat,
    encoding: String,
}

impl ScrapeObserver for Uncountable {
    fn chunk(&mut self, _wire: &Bytes) {}

    fn finish(self: Box<Self>, _complete: bool) -> Counts {
        Counts {
            format: Some(self.format),
            error: Some(format!(
                "cannot count a body with Content-Encoding {:?}",
                self.encoding
            )),
            ..Counts::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn response_meta_reads_the_two_headers_and_skips_non_ascii() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/openmetrics-text; version=1.0.0"),
        );
        let meta = ResponseMeta::from_headers(&headers);
        assert_eq!(
            meta.content_type,
            Some("application/openmetrics-text; version=1.0.0")
        );
        assert_eq!(meta.content_encoding, None);
        headers.insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_bytes(b"gz\xffip").unwrap(),
        );
        assert_eq!(ResponseMeta::from_headers(&headers).content_encoding, None);
        headers.insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
        assert_eq!(
            ResponseMeta::from_headers(&headers).content_encoding,
            Some("gzip")
        );
    }

    fn target() -> Arc<ScrapeTarget> {
        Arc::new(ScrapeTarget {
            id: crate::shard_api::TargetId("t".into()),
            job: "j".into(),
            url: "http://x/metrics".into(),
            labels: Default::default(),
            role: crate::shard_api::Role::Active,
        })
    }

    fn observe(
        hooks: &ExpositionCounting,
        encoding: Option<&str>,
        wire: &[u8],
        piece: usize,
    ) -> Counts {
        let meta = ResponseMeta {
            content_type: Some("text/plain; version=0.0.4"),
            content_encoding: encoding,
        };
        let mut observer = hooks.observer(&target(), &meta);
        for chunk in wire.chunks(piece) {
            observer.chunk(&Bytes::copy_from_slice(chunk));
        }
        observer.finish(true)
    }

    #[test]
    fn gzip_is_inflated_and_counted_across_chunk_boundaries() {
        let plain = b"a 1\nb{x=\"y\"} 2\nc 3\n".repeat(1000);
        let counts = observe(
            &ExpositionCounting::default(),
            Some("gzip"),
            &gzip(&plain),
            7,
        );
        assert_eq!(counts.decoded_bytes, plain.len() as u64);
        assert_eq!(
            (counts.samples, counts.kept, counts.error),
            (Some(3000), Some(3000), None)
        );
        assert_eq!(
            counts.top_families[0],
            FamilyCount {
                name: "a".into(),
                samples: 1000
            }
        );
    }

    #[derive(Debug)]
    struct DropB;

    impl MetricRelabel for DropB {
        fn keeps(&self, _target: &ScrapeTarget, labels: &[(&str, &str)]) -> bool {
            labels.first() != Some(&("__name__", "b"))
        }
    }

    #[test]
    fn kept_samples_go_through_the_jobs_metric_relabeling() {
        let hooks = ExpositionCounting {
            metric_relabel: Some(Arc::new(DropB)),
        };
        let counts = observe(&hooks, None, b"a 1\nb{x=\"y\"} 2\nb 3\nc 4", 5);
        assert_eq!((counts.samples, counts.kept), (Some(4), Some(2)));
    }

    #[test]
    fn relabel_buffers_are_reused_between_samples() {
        let unescaped: Vec<(Cow<'static, str>, Cow<'static, str>)> = Vec::with_capacity(8);
        let at = unescaped.as_ptr() as usize;
        let mut borrowed: Vec<(Cow<'_, str>, Cow<'_, str>)> = recycle(unescaped);
        let local = String::from("v");
        borrowed.push((Cow::Borrowed("k"), Cow::Borrowed(local.as_str())));
        assert_eq!(borrowed.as_ptr() as usize, at);
        assert!(borrowed.capacity() >= 8);
        let back: Vec<(Cow<'static, str>, Cow<'static, str>)> = recycle(borrowed);
        assert_eq!((back.as_ptr() as usize, back.len()), (at, 0));
    }

    #[test]
    fn corrupt_or_unknown_encodings_are_reported_not_panicked_on() {
        let corrupt = observe(
            &ExpositionCounting::default(),
            Some("gzip"),
            b"\x1f\x8b\x08\x00garbage",
            3,
        );
        assert!(corrupt.error.is_some(), "{corrupt:?}");
        let brotli = observe(&ExpositionCounting::default(), Some("br"), b"whatever", 3);
        assert!(brotli.error.unwrap().contains("br"));
        assert_eq!(brotli.samples, None);
    }
}
