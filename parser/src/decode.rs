//! Content-Encoding decoding in front of the [`StreamCounter`]: the sidecar
//! feeds the target's raw (possibly compressed) chunks.
//!
//! Decompression runs through flate2's streaming `write` decoders (zlib-rs
//! backend), one bounded step at a time: each step consumes some input and
//! produces at most 32 KiB of output, which is counted before the next step,
//! so a small compressed chunk that inflates to gigabytes never sits in
//! memory. gzip bodies may have several members (as Go's `gzip.Reader`
//! accepts). `deflate` is the zlib format (RFC 9110); raw deflate is accepted
//! too when the first bytes are not a zlib header.

use std::io::Write;

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use crate::count::Counts;
use crate::error::{ParseError, Position};
use crate::format::Format;
use crate::sample::{NoVisitor, SampleVisitor};
use crate::stream::StreamCounter;

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No encoding (`identity`, or none).
    Identity,
    /// `gzip` (also `x-gzip`).
    Gzip,
    /// `deflate` (zlib; raw deflate accepted).
    Deflate,
}

impl Encoding {
    /// The encoding named by a `Content-Encoding` header; `None` for an
    /// encoding this crate cannot decode (e.g. `br`, `zstd`).
    ///
    /// Note that Prometheus itself only asks for and decodes `gzip`.
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        let v = value.map(str::trim).unwrap_or("");
        if v.is_empty() || v.eq_ignore_ascii_case("identity") {
            Some(Encoding::Identity)
        } else if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") {
            Some(Encoding::Gzip)
        } else if v.eq_ignore_ascii_case("deflate") {
            Some(Encoding::Deflate)
        } else {
            None
        }
    }
}

/// Collects one bounded step of decompressed output.
#[derive(Debug, Default)]
struct Out(Vec<u8>);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
enum Dec {
    Identity,
    Gzip(Box<MultiGzDecoder<Out>>),
    /// Deflate before the first two bytes decide zlib or raw.
    DeflatePending(Vec<u8>),
    Zlib(Box<ZlibDecoder<Out>>),
    Raw(Box<DeflateDecoder<Out>>),
}

/// A [`StreamCounter`] behind a decoder for the body's `Content-Encoding`.
///
/// ```
/// use std::io::Write;
/// use promshard_parser::{DecodingCounter, Encoding, Format};
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"a 1\nb 2\n").unwrap();
/// let body = gz.finish().unwrap();
/// let mut counter = DecodingCounter::new(Format::Text, Encoding::Gzip);
/// for chunk in body.chunks(7) {
///     counter.feed(chunk);
/// }
/// assert_eq!(counter.finish().samples, 2);
/// ```
#[derive(Debug)]
pub struct DecodingCounter {
    dec: Dec,
    counter: StreamCounter,
    encoded_bytes: u64,
    decode_error: Option<ParseError>,
}

impl DecodingCounter {
    /// Counts a body in `format` encoded with `encoding`.
    pub fn new(format: Format, encoding: Encoding) -> Self {
        Self::with_counter(StreamCounter::new(format), encoding)
    }

    /// Puts a decoder for `encoding` in front of `counter`.
    pub fn with_counter(counter: StreamCounter, encoding: Encoding) -> Self {
        let dec = match encoding {
            Encoding::Identity => Dec::Identity,
            Encoding::Gzip => Dec::Gzip(Box::new(MultiGzDecoder::new(Out::default()))),
            Encoding::Deflate => Dec::DeflatePending(Vec::new()),
        };
        Self {
            dec,
            counter,
            encoded_bytes: 0,
            decode_error: None,
        }
    }

    /// Bytes fed before decoding.
    pub fn encoded_bytes(&self) -> u64 {
        self.encoded_bytes
    }

    /// The counts so far (decoded bytes in [`Counts::bytes`]).
    pub fn counts(&self) -> &Counts {
        self.counter.counts()
    }

    /// Feeds the next encoded chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.feed_with(chunk, &mut NoVisitor);
    }

    /// Feeds the next encoded chunk, visiting every counted sample.
    pub fn feed_with<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        let before = self.encoded_bytes;
        self.encoded_bytes += chunk.len() as u64;
        // Decoding goes on after counting stops (an error, or the end
        // marker): `Counts::bytes` stays the decoded body size, and a corrupt
        // stream after that point is still reported, as Prometheus, which
        // reads the whole body before parsing, would fail the scrape.
        if self.decode_error.is_some() {
            return;
        }
        if let Dec::DeflatePending(head) = &mut self.dec {
            head.extend_from_slice(chunk);
            if head.len() < 2 {
                return;
            }
            let head = std::mem::take(head);
            let zlib =
                (head[0] & 0x0f) == 8 && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
            self.dec = if zlib {
                Dec::Zlib(Box::new(ZlibDecoder::new(Out::default())))
            } else {
                Dec::Raw(Box::new(DeflateDecoder::new(Out::default())))
            };
            return self.pump(
                &head,
                before.saturating_sub(head.len() as u64 - chunk.len() as u64),
                visitor,
            );
        }
        self.pump(chunk, before, visitor);
    }

    fn pump<V: SampleVisitor>(&mut self, mut input: &[u8], mut offset: u64, visitor: &mut V) {
        if let Dec::Identity = self.dec {
            self.counter.feed_with(input, visitor);
            return;
        }
        while !input.is_empty() {
            let step = match &mut self.dec {
                Dec::Gzip(d) => d.write(input),
                Dec::Zlib(d) => d.write(input),
                Dec::Raw(d) => d.write(input),
                Dec::Identity | Dec::DeflatePending(_) => Ok(input.len()),
            };
            self.drain(visitor);
            match step {
                Ok(0) => {
                    self.fail_decode(
                        offset,
                        "the end of the compressed stream",
                        "more data after it",
                    );
                    return;
                }
                Ok(n) => {
                    input = &input[n..];
                    offset += n as u64;
                }
                Err(e) => {
                    self.fail_decode(offset, "valid compressed data", &e.to_string());
                    return;
                }
            }
        }
    }

    fn drain<V: SampleVisitor>(&mut self, visitor: &mut V) {
        let out = match &mut self.dec {
            Dec::Gzip(d) => &mut d.get_mut().0,
            Dec::Zlib(d) => &mut d.get_mut().0,
            Dec::Raw(d) => &mut d.get_mut().0,
            Dec::Identity | Dec::DeflatePending(_) => return,
        };
        if !out.is_empty() {
            self.counter.feed_with(out, visitor);
            out.clear();
        }
    }

    fn fail_decode(&mut self, offset: u64, expected: &str, found: &str) {
        if self.decode_error.is_none() {
            self.decode_error = Some(ParseError {
                position: Position::Encoded { offset },
                expected: expected.to_owned(),
                found: found.to_owned(),
            });
        }
    }

    /// Ends the body: flushes the decoder, checks the compressed stream is
    /// complete, and returns the counts (a decoding error is reported as the
    /// error unless parsing failed first).
    pub fn finish(self) -> Counts {
        self.finish_with(&mut NoVisitor)
    }

    /// [`finish`](Self::finish), visiting the last samples.
    pub fn finish_with<V: SampleVisitor>(mut self, visitor: &mut V) -> Counts {
        if self.decode_error.is_none() {
            let offset = self.encoded_bytes;
            let done = match &mut self.dec {
                Dec::Gzip(d) => d.try_finish(),
                Dec::Zlib(d) => d.try_finish(),
                Dec::Raw(d) => d.try_finish(),
                Dec::DeflatePending(h) if !h.is_empty() => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "truncated deflate stream",
                )),
                _ => Ok(()),
            };
            self.drain(visitor);
            if let Err(e) = done {
                self.fail_decode(offset, "a complete compressed stream", &e.to_string());
            }
        }
        let decode_error = self.decode_error.take();
        let mut counts = self.counter.finish_with(visitor);
        if counts.error.is_none() {
            counts.error = decode_error;
        }
        counts
    }
}
