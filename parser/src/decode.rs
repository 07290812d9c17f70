//! Content-Encoding decoding in front of the [`StreamCounter`]: the sidecar
//! feeds the target's raw (possibly compressed) chunks.
//!
//! The gzip and zlib wrappers are parsed here and only the raw deflate data
//! goes through flate2's [`Decompress`] (zlib-rs backend), which inflates
//! straight into a fixed 64 KiB buffer that is counted before the next step,
//! so a small compressed chunk that inflates to gigabytes never sits in
//! memory. The inflate state and that buffer come from a small pool and go
//! back to it when the counter is finished or dropped: a sidecar counting
//! thousands of small scrapes neither allocates nor faults in fresh pages per
//! body.
//!
//! A gzip body whose compressed size fits in 128 KiB (most scrapes) is
//! gathered instead and inflated in one call at the end by libdeflate,
//! 1.4-2.4x faster than streaming inflate, into a pooled buffer bounded by
//! the trailer's ISIZE (at most 2 MiB, else it is streamed);
//! [`count_gzip_whole`] does the same for a body already in memory.
//!
//! gzip bodies may have several members (as Go's `gzip.Reader` accepts);
//! bytes after the last member that do not start another one fail the body,
//! as they fail a Prometheus scrape. `deflate` is the zlib format (RFC 9110);
//! raw deflate is accepted too when the first bytes are not a zlib header.
//!
//! The CRC-32 of a gzip member (and the Adler-32 of a zlib stream) is not
//! checked: counting only needs the data, so a body with a bad checksum is
//! counted here while Prometheus, whose gzip reader checks it, fails that
//! scrape. The trailer must still be there, and a gzip member's ISIZE must
//! match the inflated size, which catches truncation and most corruption
//! for free.

use std::sync::{Mutex, PoisonError};

use flate2::{Decompress, FlushDecompress, Status};

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

/// Inflated bytes per step: large enough that the per-call cost of the
/// inflater (and its window copy) is small, small enough to stay in L2 for
/// the counter that reads it next.
const OUT_BUF: usize = 64 * 1024;

/// Inflaters kept for reuse (about 110 KiB each with the window, plus the
/// gather buffer, under `2 * GATHER_MAX`, and at most `RETAIN_MAX` of
/// whole-body output).
const POOL_MAX: usize = 8;

/// A gzip body whose compressed bytes fit in this is gathered and inflated
/// in one call at the end by libdeflate, which is 1.4-2.4x faster than
/// streaming inflate; a larger one is streamed from the chunk that
/// overflows it.
const GATHER_MAX: usize = 128 * 1024;

/// ... provided its trailer says it inflates to at most this, which bounds
/// the memory a gathered body holds.
const GATHERED_WHOLE_MAX: usize = 2 * 1024 * 1024;

/// Whole-body output buffers larger than this are freed, not pooled.
const RETAIN_MAX: usize = 256 * 1024;

/// The largest inflated size [`count_gzip_whole`] inflates into one buffer;
/// a larger body is streamed.
pub const WHOLE_GZIP_MAX: usize = 64 * 1024 * 1024;

/// Raw-deflate inflate state and the buffer it inflates into, and the
/// whole-body path's decompressor and buffers.
struct Inflater {
    raw: Decompress,
    out: Box<[u8]>,
    whole: libdeflater::Decompressor,
    gathered: Vec<u8>,
    whole_out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("total_in", &self.raw.total_in())
            .field("total_out", &self.raw.total_out())
            .finish_non_exhaustive()
    }
}

static POOL: Mutex<Vec<Inflater>> = Mutex::new(Vec::new());

/// An [`Inflater`] taken from the pool, returned to it on drop.
#[derive(Debug)]
struct Pooled(Option<Inflater>);

impl Pooled {
    fn take() -> Self {
        let pooled = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let inflater = match pooled {
            Some(mut inflater) => {
                inflater.raw.reset(false);
                inflater
            }
            None => Inflater {
                raw: Decompress::new(false),
                out: vec![0; OUT_BUF].into_boxed_slice(),
                whole: libdeflater::Decompressor::new(),
                gathered: Vec::new(),
                whole_out: Vec::new(),
            },
        };
        Pooled(Some(inflater))
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(mut inflater) = self.0.take() {
            inflater.gathered.clear();
            if inflater.whole_out.capacity() > RETAIN_MAX {
                inflater.whole_out = Vec::new();
            }
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < POOL_MAX {
                pool.push(inflater);
            }
        }
    }
}

/// gzip member header flags (RFC 1952, 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// Where the parse of a gzip member header is (the header may be split
/// across chunks anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GzHeader {
    /// `seen` of the 10 fixed bytes read; `flags` once byte 3 is.
    Fixed { seen: u8, flags: u8 },
    /// The 2-byte little-endian length of the extra field.
    ExtraLen { flags: u8, seen: u8, len: u16 },
    /// Extra-field bytes still to skip.
    Extra { flags: u8, left: u16 },
    /// Inside the zero-terminated file name.
    Name { flags: u8 },
    /// Inside the zero-terminated comment.
    Comment { flags: u8 },
    /// Header CRC-16 bytes still to skip.
    Crc { left: u8 },
}

/// What wraps the deflate data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    Gzip,
    Zlib,
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Identity,
    /// A gzip body gathered for the whole-body path (at most `GATHER_MAX`).
    Gather,
    /// `deflate` before its first two bytes tell zlib from raw deflate.
    DeflateSniff {
        first: Option<u8>,
    },
    GzHeader(GzHeader),
    /// Inflating the deflate data.
    Inflate(Wrapper),
    /// The 8-byte gzip trailer: CRC-32 (ignored) then ISIZE.
    GzTrailer {
        seen: u8,
        isize: u32,
    },
    /// A gzip member ended: the body ends here or another member starts.
    GzBetween,
    /// The 4-byte zlib Adler-32 trailer (ignored once present).
    ZlibTrailer {
        seen: u8,
    },
    /// The zlib or raw deflate stream is complete; nothing may follow.
    Done,
}

/// A decoding failure: at `at` bytes from the start of the step's input
/// (negative: in an earlier chunk).
struct Failure {
    at: i64,
    expected: String,
    found: String,
}

impl Failure {
    fn new(at: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Self {
            at: i64::try_from(at).unwrap_or(i64::MAX),
            expected: expected.into(),
            found: found.into(),
        }
    }
}

fn hex_byte(byte: u8) -> String {
    format!("byte {byte:02x}")
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
    frame: Frame,
    /// Present for every encoding but identity.
    inflater: Pooled,
    /// The last inflate step filled the output buffer, so more output may
    /// be pending without more input.
    output_pending: bool,
    /// Bytes inflated from the current gzip member, modulo 2^32 (ISIZE).
    member_size: u32,
    /// Complete gzip members so far.
    members: u64,
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
        let (frame, inflater) = match encoding {
            Encoding::Identity => (Frame::Identity, Pooled(None)),
            Encoding::Gzip => (Frame::Gather, Pooled::take()),
            Encoding::Deflate => (Frame::DeflateSniff { first: None }, Pooled::take()),
        };
        Self {
            frame,
            inflater,
            output_pending: false,
            member_size: 0,
            members: 0,
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
    ///
    /// A small gzip body is gathered and counted at [`finish`](Self::finish),
    /// so until then its counts stay at zero (and a visitor given to
    /// [`feed_with`](Self::feed_with) sees its samples at
    /// [`finish_with`](Self::finish_with)).
    pub fn counts(&self) -> &Counts {
        self.counter.counts()
    }

    /// Feeds the next encoded chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.feed_with(chunk, &mut NoVisitor);
    }

    /// Feeds the next encoded chunk, visiting every counted sample.
    pub fn feed_with<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        let offset = self.encoded_bytes;
        self.encoded_bytes += chunk.len() as u64;
        // Decoding goes on after counting stops (an error, or the end
        // marker): `Counts::bytes` stays the decoded body size, and a corrupt
        // stream after that point is still reported, as Prometheus, which
        // reads the whole body before parsing, would fail the scrape.
        if self.decode_error.is_some() {
            return;
        }
        if self.frame == Frame::Identity {
            self.counter.feed_with(chunk, visitor);
            return;
        }
        if self.frame == Frame::Gather {
            if let Some(inflater) = &mut self.inflater.0
                && inflater.gathered.len() + chunk.len() <= GATHER_MAX
            {
                inflater.gathered.extend_from_slice(chunk);
                return;
            }
            self.stream_gathered(visitor);
        }
        self.pump(chunk, offset, visitor);
    }

    /// Leaves the whole-body path: streams what was gathered.
    fn stream_gathered<V: SampleVisitor>(&mut self, visitor: &mut V) {
        self.frame = Frame::GzHeader(GzHeader::Fixed { seen: 0, flags: 0 });
        let Some(inflater) = &mut self.inflater.0 else {
            return;
        };
        let gathered = std::mem::take(&mut inflater.gathered);
        self.pump(&gathered, 0, visitor);
        if let Some(inflater) = &mut self.inflater.0 {
            inflater.gathered = gathered;
            inflater.gathered.clear();
        }
    }

    /// Counts `body`, the whole gzip body, inflated in one call if it is a
    /// single member inflating to at most `max` bytes; streams it otherwise.
    fn count_whole<V: SampleVisitor>(&mut self, body: &[u8], max: usize, visitor: &mut V) {
        if let Some(inflater) = &mut self.inflater.0
            && let Some(n) = inflate_whole(&mut inflater.whole, body, &mut inflater.whole_out, max)
        {
            self.counter.feed_with(
                &inflater.whole_out[..n.min(inflater.whole_out.len())],
                visitor,
            );
            self.frame = Frame::GzBetween;
            self.members = 1;
            return;
        }
        self.frame = Frame::GzHeader(GzHeader::Fixed { seen: 0, flags: 0 });
        self.pump(body, 0, visitor);
    }

    /// Decodes `input`, which starts at encoded byte `offset`, until it is
    /// used up and no inflated output is pending.
    fn pump<V: SampleVisitor>(&mut self, mut input: &[u8], mut offset: u64, visitor: &mut V) {
        while (!input.is_empty() || self.output_pending) && self.decode_error.is_none() {
            let step = match self.frame {
                Frame::Identity | Frame::Gather => Ok(input.len()),
                Frame::DeflateSniff { first } => self.sniff(first, input, offset, visitor),
                Frame::GzHeader(header) => self.gz_header(header, input),
                Frame::Inflate(wrapper) => self.inflate(wrapper, input, visitor),
                Frame::GzTrailer { seen, isize } => self.gz_trailer(seen, isize, input),
                Frame::GzBetween => {
                    self.frame = Frame::GzHeader(GzHeader::Fixed { seen: 0, flags: 0 });
                    self.member_size = 0;
                    if let Some(inflater) = &mut self.inflater.0 {
                        inflater.raw.reset(false);
                    }
                    Ok(0)
                }
                Frame::ZlibTrailer { seen } => {
                    let used = input.len().min(4 - usize::from(seen));
                    // `used` is at most 4.
                    let seen = seen + u8::try_from(used).unwrap_or(4);
                    self.frame = if seen == 4 {
                        Frame::Done
                    } else {
                        Frame::ZlibTrailer { seen }
                    };
                    Ok(used)
                }
                Frame::Done => Err(Failure::new(
                    0,
                    "the end of the compressed stream",
                    "more data after it",
                )),
            };
            match step {
                Ok(used) => {
                    input = &input[used.min(input.len())..];
                    offset += used as u64;
                }
                Err(failure) => {
                    let at = offset.saturating_add_signed(failure.at);
                    self.fail_decode(at, failure.expected, failure.found);
                    return;
                }
            }
        }
    }

    /// Tells zlib from raw deflate by the first two bytes (a zlib header is
    /// CM = 8 and a multiple of 31), which may come in separate chunks.
    fn sniff<V: SampleVisitor>(
        &mut self,
        first: Option<u8>,
        input: &[u8],
        offset: u64,
        visitor: &mut V,
    ) -> Result<usize, Failure> {
        let Some(&next) = input.first() else {
            return Ok(0);
        };
        let Some(first) = first else {
            self.frame = Frame::DeflateSniff { first: Some(next) };
            return Ok(1);
        };
        let zlib =
            (first & 0x0f) == 8 && (u16::from(first) << 8 | u16::from(next)).is_multiple_of(31);
        if !zlib {
            self.frame = Frame::Inflate(Wrapper::Raw);
            // The held first byte is deflate data; the rest of `input`
            // follows in the caller's loop.
            self.pump(&[first], offset.saturating_sub(1), visitor);
            return Ok(0);
        }
        if next & 0x20 != 0 {
            return Err(Failure::new(
                0,
                "a zlib stream without a preset dictionary",
                "the FDICT flag",
            ));
        }
        self.frame = Frame::Inflate(Wrapper::Zlib);
        Ok(1)
    }

    /// Parses (and skips) a gzip member header.
    fn gz_header(&mut self, header: GzHeader, input: &[u8]) -> Result<usize, Failure> {
        let mut used = 0;
        let mut header = header;
        loop {
            let rest = &input[used..];
            // The optional parts in order; each step either completes one
            // part or uses up the input.
            header = match header {
                GzHeader::Fixed { seen: 10, flags } => GzHeader::ExtraLen {
                    flags,
                    seen: 0,
                    len: 0,
                },
                GzHeader::Fixed { seen, flags } => {
                    let Some(&byte) = rest.first() else { break };
                    let magic = if self.members == 0 {
                        "a gzip header (1f 8b)"
                    } else {
                        "another gzip member (1f 8b) or the end of the body"
                    };
                    let want = match seen {
                        0 => Some((0x1f, magic)),
                        1 => Some((0x8b, magic)),
                        2 => Some((0x08, "gzip compression method 8 (deflate)")),
                        _ => None,
                    };
                    if let Some((want, expected)) = want
                        && byte != want
                    {
                        return Err(Failure::new(used, expected, hex_byte(byte)));
                    }
                    used += 1;
                    let flags = if seen == 3 { byte } else { flags };
                    GzHeader::Fixed {
                        seen: seen + 1,
                        flags,
                    }
                }
                GzHeader::ExtraLen { flags, .. } if flags & FEXTRA == 0 => GzHeader::Name { flags },
                GzHeader::ExtraLen {
                    flags,
                    seen: 2,
                    len,
                } => GzHeader::Extra { flags, left: len },
                GzHeader::ExtraLen { flags, seen, len } => {
                    let Some(&byte) = rest.first() else { break };
                    used += 1;
                    GzHeader::ExtraLen {
                        flags,
                        seen: seen + 1,
                        len: len | u16::from(byte) << (8 * seen),
                    }
                }
                GzHeader::Extra { flags, left: 0 } => GzHeader::Name { flags },
                GzHeader::Extra { flags, left } => {
                    if rest.is_empty() {
                        break;
                    }
                    let skip = rest.len().min(usize::from(left));
                    used += skip;
                    GzHeader::Extra {
                        flags,
                        // `skip` is at most `left`.
                        left: left - u16::try_from(skip).unwrap_or(left),
                    }
                }
                GzHeader::Name { flags } if flags & FNAME == 0 => GzHeader::Comment { flags },
                GzHeader::Comment { flags } if flags & FCOMMENT == 0 => GzHeader::Crc {
                    left: if flags & FHCRC == 0 { 0 } else { 2 },
                },
                GzHeader::Name { flags } | GzHeader::Comment { flags } => {
                    if rest.is_empty() {
                        break;
                    }
                    match memchr::memchr(0, rest) {
                        Some(end) => {
                            used += end + 1;
                            match header {
                                GzHeader::Name { .. } => GzHeader::Comment { flags },
                                _ => GzHeader::Crc {
                                    left: if flags & FHCRC == 0 { 0 } else { 2 },
                                },
                            }
                        }
                        None => {
                            used += rest.len();
                            header
                        }
                    }
                }
                GzHeader::Crc { left: 0 } => {
                    self.frame = Frame::Inflate(Wrapper::Gzip);
                    return Ok(used);
                }
                GzHeader::Crc { left } => {
                    if rest.is_empty() {
                        break;
                    }
                    used += 1;
                    GzHeader::Crc { left: left - 1 }
                }
            };
        }
        self.frame = Frame::GzHeader(header);
        Ok(used)
    }

    /// One inflate step into the output buffer, which is then counted.
    fn inflate<V: SampleVisitor>(
        &mut self,
        wrapper: Wrapper,
        input: &[u8],
        visitor: &mut V,
    ) -> Result<usize, Failure> {
        let Some(inflater) = &mut self.inflater.0 else {
            return Ok(input.len());
        };
        let (in_before, out_before) = (inflater.raw.total_in(), inflater.raw.total_out());
        let status = inflater
            .raw
            .decompress(input, &mut inflater.out, FlushDecompress::None);
        // Both are bounded by the slices given to the step.
        let used = usize::try_from(inflater.raw.total_in() - in_before).unwrap_or(input.len());
        let produced =
            usize::try_from(inflater.raw.total_out() - out_before).unwrap_or(inflater.out.len());
        if produced > 0 {
            self.counter
                .feed_with(&inflater.out[..produced.min(OUT_BUF)], visitor);
            // `produced` is at most OUT_BUF.
            let produced = u32::try_from(produced).unwrap_or(0);
            self.member_size = self.member_size.wrapping_add(produced);
        }
        self.output_pending = produced == OUT_BUF;
        match status {
            Ok(Status::StreamEnd) => {
                self.output_pending = false;
                self.frame = match wrapper {
                    Wrapper::Gzip => Frame::GzTrailer { seen: 0, isize: 0 },
                    Wrapper::Zlib => Frame::ZlibTrailer { seen: 0 },
                    Wrapper::Raw => Frame::Done,
                };
                Ok(used)
            }
            Ok(_) if used == 0 && produced == 0 && !input.is_empty() => Err(Failure::new(
                0,
                "valid compressed data",
                "data the inflater cannot use",
            )),
            Ok(_) => Ok(used),
            Err(e) => Err(Failure::new(used, "valid compressed data", e.to_string())),
        }
    }

    /// Reads the gzip trailer and checks ISIZE against the inflated size.
    fn gz_trailer(&mut self, seen: u8, isize: u32, input: &[u8]) -> Result<usize, Failure> {
        let mut seen = seen;
        let mut isize = isize;
        let mut used = 0;
        for &byte in input.iter().take(8 - usize::from(seen)) {
            if seen >= 4 {
                isize |= u32::from(byte) << (8 * (seen - 4));
            }
            seen += 1;
            used += 1;
        }
        if seen < 8 {
            self.frame = Frame::GzTrailer { seen, isize };
            return Ok(used);
        }
        let inflated = self.member_size;
        if isize != inflated {
            // At the first byte of ISIZE, wherever the chunk began.
            let mut failure = Failure::new(
                used,
                format!("a gzip trailer with ISIZE {inflated} (the inflated size)"),
                format!("ISIZE {isize}"),
            );
            failure.at -= 4;
            return Err(failure);
        }
        self.frame = Frame::GzBetween;
        self.members += 1;
        Ok(used)
    }

    fn fail_decode(&mut self, offset: u64, expected: String, found: String) {
        if self.decode_error.is_none() {
            self.decode_error = Some(ParseError {
                position: Position::Encoded { offset },
                expected,
                found,
            });
        }
        self.output_pending = false;
    }

    /// Ends the body: flushes the decoder, checks the compressed stream is
    /// complete, and returns the counts (a decoding error is reported as the
    /// error unless parsing failed first).
    pub fn finish(self) -> Counts {
        self.finish_with(&mut NoVisitor)
    }

    /// [`finish`](Self::finish), visiting the last samples.
    pub fn finish_with<V: SampleVisitor>(self, visitor: &mut V) -> Counts {
        self.finish_decoding_with(visitor).0
    }

    /// [`finish_with`](Self::finish_with), also returning the decoding
    /// error on its own (a corrupt or truncated compressed stream): in the
    /// counts it shows only when parsing did not fail first, and a stream
    /// cut short usually leaves a partial last line that fails to parse.
    pub(crate) fn finish_decoding_with<V: SampleVisitor>(
        mut self,
        visitor: &mut V,
    ) -> (Counts, Option<ParseError>) {
        if self.frame == Frame::Gather
            && let Some(inflater) = &mut self.inflater.0
        {
            let gathered = std::mem::take(&mut inflater.gathered);
            self.count_whole(&gathered, GATHERED_WHOLE_MAX, visitor);
            if let Some(inflater) = &mut self.inflater.0 {
                inflater.gathered = gathered;
            }
        }
        if self.decode_error.is_none() {
            let offset = self.encoded_bytes;
            self.pump(&[], offset, visitor);
            let truncated = match self.frame {
                Frame::Identity | Frame::Gather | Frame::GzBetween | Frame::Done => None,
                Frame::DeflateSniff { first: None } => None,
                Frame::DeflateSniff { first: Some(_) } => Some("a truncated deflate stream"),
                // Go's gzip reader fails on an empty body too.
                Frame::GzHeader(GzHeader::Fixed { seen: 0, .. }) => Some("an empty body"),
                Frame::GzHeader(_) => Some("a truncated gzip header"),
                Frame::Inflate(_) => Some("a truncated deflate stream"),
                Frame::GzTrailer { .. } => Some("a truncated gzip trailer"),
                Frame::ZlibTrailer { .. } => Some("a truncated zlib trailer"),
            };
            if let Some(found) = truncated {
                self.fail_decode(
                    offset,
                    "a complete compressed stream".to_owned(),
                    found.to_owned(),
                );
            }
        }
        let decode_error = self.decode_error.take();
        let mut counts = self.counter.finish_with(visitor);
        if counts.error.is_none() {
            counts.error.clone_from(&decode_error);
        }
        (counts, decode_error)
    }
}

/// Inflates `body`, a whole gzip body, into `out` in one libdeflate call.
/// `None` unless it is exactly one complete member that inflates to at most
/// `max` bytes: the caller then streams it, which reports what is wrong.
fn inflate_whole(
    decompressor: &mut libdeflater::Decompressor,
    body: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Option<usize> {
    // A member is at least a 10-byte header, 2 bytes of deflate, 8 of trailer.
    let trailer_isize = body.len().checked_sub(4).filter(|_| body.len() >= 20)?;
    let isize_bytes: [u8; 4] = body.get(trailer_isize..)?.try_into().ok()?;
    let size = usize::try_from(u32::from_le_bytes(isize_bytes)).ok()?;
    if size > max {
        return None;
    }
    if out.len() < size {
        out.resize(size, 0);
    }
    let inflated = decompressor
        .gzip_decompress(body, out.get_mut(..size)?)
        .ok()?;
    // libdeflate checks the first member's CRC-32 and ISIZE but ignores
    // whatever follows that member. Its ISIZE (these 4 bytes) is in the
    // body where the member ends, so if their first occurrence is the last
    // 4 bytes, the member ends there and nothing follows it.
    let alone = memchr::memmem::find(body, &isize_bytes) == Some(trailer_isize);
    (inflated == size && alone).then_some(size)
}

/// Counts a whole gzip body (all of it in memory) in `format`: inflated in
/// one call by libdeflate when it is one member inflating to at most
/// [`WHOLE_GZIP_MAX`] bytes (1.4-2.4x faster than streaming inflate), and
/// otherwise streamed as by [`DecodingCounter`], with the same results.
///
/// ```
/// use std::io::Write;
/// use promshard_parser::{Format, count_gzip_whole};
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"a 1\nb 2\n").unwrap();
/// let counts = count_gzip_whole(&gz.finish().unwrap(), Format::Text);
/// assert_eq!((counts.samples, counts.error), (2, None));
/// ```
pub fn count_gzip_whole(body: &[u8], format: Format) -> Counts {
    let mut counter = DecodingCounter::new(format, Encoding::Gzip);
    counter.encoded_bytes = body.len() as u64;
    counter.count_whole(body, WHOLE_GZIP_MAX, &mut NoVisitor);
    counter.finish()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use promshard_test_support::gzip;

    use super::*;
    use crate::stream::count;

    const BODY: &[u8] =
        b"# TYPE a counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 2\nb 3\nc{y=\"z\"} 4\n";

    fn deflate(plain: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(plain).unwrap();
        e.finish().unwrap()
    }

    /// A gzip member with every optional header field: FEXTRA, FNAME,
    /// FCOMMENT and FHCRC (whose value is not checked).
    fn gzip_all_fields(plain: &[u8]) -> Vec<u8> {
        gzip_with_fields(FEXTRA | FNAME | FCOMMENT | FHCRC, plain)
    }

    fn gzip_with_fields(flags: u8, plain: &[u8]) -> Vec<u8> {
        let mut m = vec![0x1f, 0x8b, 8, flags];
        m.extend_from_slice(&[1, 2, 3, 4, 0, 255]); // MTIME, XFL, OS
        if flags & FEXTRA != 0 {
            m.extend_from_slice(&[5, 0, b'A', b'B', 3, 0, 0]); // XLEN 5 and a subfield
        }
        if flags & FNAME != 0 {
            m.extend_from_slice(b"metrics.prom\0");
        }
        if flags & FCOMMENT != 0 {
            m.extend_from_slice(b"a comment with \x1f\x8b in it\0");
        }
        if flags & FHCRC != 0 {
            m.extend_from_slice(&[0xaa, 0xbb]); // header CRC-16
        }
        m.extend_from_slice(&deflate(plain));
        let mut crc = flate2::Crc::new();
        crc.update(plain);
        m.extend_from_slice(&crc.sum().to_le_bytes());
        m.extend_from_slice(&u32::try_from(plain.len()).unwrap().to_le_bytes());
        m
    }

    /// Decodes in the pieces between `cuts`; a gzip body both through the
    /// whole-body path and streamed, which must agree.
    fn decode(encoded: &[u8], encoding: Encoding, cuts: &[usize]) -> Counts {
        let run = |streamed: bool| {
            let mut c = DecodingCounter::new(Format::Text, encoding);
            if streamed {
                c.frame = Frame::GzHeader(GzHeader::Fixed { seen: 0, flags: 0 });
            }
            let mut at = 0;
            for &cut in cuts.iter().chain([&encoded.len()]) {
                c.feed(&encoded[at..cut]);
                at = cut;
            }
            c.finish()
        };
        let counts = run(false);
        if encoding == Encoding::Gzip {
            assert_eq!(run(true), counts, "streamed and whole-body paths differ");
            if cuts.is_empty() {
                assert_eq!(count_gzip_whole(encoded, Format::Text), counts);
            }
        }
        counts
    }

    fn encoded_offset(counts: &Counts) -> u64 {
        match counts.error.as_ref().map(|e| e.position) {
            Some(Position::Encoded { offset }) => offset,
            other => panic!("expected a decoding error, got {other:?}"),
        }
    }

    #[test]
    fn header_fields_split_anywhere_count_like_plain() {
        let want = count(BODY, Format::Text);
        assert_eq!(want.samples, 4);
        let gz = gzip_all_fields(BODY);
        // Every pair of cuts inside the header and just past it.
        let header_end = 60.min(gz.len());
        for i in 0..=header_end {
            for j in i..=header_end {
                assert_eq!(decode(&gz, Encoding::Gzip, &[i, j]), want, "cuts {i} {j}");
            }
        }
        let ones: Vec<usize> = (1..gz.len()).collect();
        assert_eq!(decode(&gz, Encoding::Gzip, &ones), want);
    }

    #[test]
    fn multiple_members_count_as_one_body() {
        let mut plain = BODY.to_vec();
        plain.extend_from_slice(b"d 5\n");
        plain.extend_from_slice(BODY);
        let want = count(&plain, Format::Text);
        let mut gz = gzip(BODY);
        gz.extend_from_slice(&gzip_all_fields(b"d 5\n"));
        gz.extend_from_slice(&gzip_with_fields(FNAME | FHCRC, BODY));
        for cut in 0..=gz.len() {
            assert_eq!(decode(&gz, Encoding::Gzip, &[cut]), want, "cut {cut}");
        }
        let ones: Vec<usize> = (1..gz.len()).collect();
        assert_eq!(decode(&gz, Encoding::Gzip, &ones), want);
    }

    #[test]
    fn an_empty_member_is_accepted() {
        let mut gz = gzip(b"");
        gz.extend_from_slice(&gzip(BODY));
        assert_eq!(decode(&gz, Encoding::Gzip, &[]), count(BODY, Format::Text));
    }

    #[test]
    fn wrong_isize_is_an_error_at_the_trailer() {
        let mut gz = gzip(BODY);
        let isize_at = gz.len() - 4;
        gz[isize_at] ^= 0x01;
        for cut in [0, isize_at, isize_at + 2, gz.len()] {
            let got = decode(&gz, Encoding::Gzip, &[cut]);
            assert_eq!(got.samples, 4, "the data was counted before the trailer");
            let e = got.error.as_ref().unwrap();
            assert!(e.expected.contains("ISIZE"), "{e}");
            assert_eq!(encoded_offset(&got), isize_at as u64, "cut {cut}: {e}");
        }
    }

    #[test]
    fn bytes_after_the_last_member_are_an_error() {
        let gz = gzip(BODY);
        for garbage in [&b"\0"[..], b"\0\0\0\0", b"<html>", b"\x1f\x8b\x09"] {
            let mut body = gz.clone();
            body.extend_from_slice(garbage);
            for cut in [gz.len(), gz.len() + 1, body.len()] {
                let got = decode(&body, Encoding::Gzip, &[cut.min(body.len())]);
                assert_eq!(got.samples, 4);
                let e = got.error.as_ref().unwrap();
                assert!(encoded_offset(&got) >= gz.len() as u64, "{e}");
                assert!(
                    e.expected.contains("gzip member") || e.expected.contains("method 8"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let gz = gzip_all_fields(BODY);
        for cut in 0..gz.len() {
            let got = decode(&gz[..cut], Encoding::Gzip, &[]);
            assert!(got.error.is_some(), "gzip cut at {cut}");
        }
        let mut zl = ZlibEncoder::new(Vec::new(), Compression::default());
        zl.write_all(BODY).unwrap();
        let zl = zl.finish().unwrap();
        for cut in 1..zl.len() {
            let got = decode(&zl[..cut], Encoding::Deflate, &[]);
            assert!(got.error.is_some(), "zlib cut at {cut}");
        }
        let raw = deflate(BODY);
        for cut in 1..raw.len() {
            let got = decode(&raw[..cut], Encoding::Deflate, &[]);
            assert!(got.error.is_some(), "raw deflate cut at {cut}");
        }
    }

    #[test]
    fn empty_bodies() {
        let got = decode(b"", Encoding::Gzip, &[]);
        assert_eq!(encoded_offset(&got), 0);
        assert_eq!(
            decode(b"", Encoding::Deflate, &[]),
            count(b"", Format::Text)
        );
    }

    #[test]
    fn bad_gzip_headers_name_the_byte() {
        let got = decode(b"a 1\nb 2\n", Encoding::Gzip, &[]);
        assert_eq!(encoded_offset(&got), 0);
        assert_eq!(got.samples, 0);
        let mut gz = gzip(BODY);
        gz[2] = 7;
        let got = decode(&gz, Encoding::Gzip, &[1]);
        assert_eq!(encoded_offset(&got), 2);
        assert!(got.error.unwrap().expected.contains("method 8"));
    }

    #[test]
    fn corrupt_deflate_data_is_an_error_at_its_offset() {
        let mut gz = gzip(BODY);
        // A reserved block type (BTYPE 11) in the first block header.
        gz[10] |= 0b110;
        let got = decode(&gz, Encoding::Gzip, &[]);
        let offset = encoded_offset(&got);
        assert!((10..gz.len() as u64).contains(&offset), "{offset}");
    }

    #[test]
    fn zlib_with_a_preset_dictionary_is_an_error() {
        // CMF 0x78, FLG with FDICT whose header checksum is valid.
        let flg = (0..=255u8)
            .find(|f| f & 0x20 != 0 && (0x7800u16 | u16::from(*f)).is_multiple_of(31))
            .unwrap();
        let got = decode(&[0x78, flg, 0, 0, 0, 0], Encoding::Deflate, &[1]);
        assert_eq!(encoded_offset(&got), 1);
    }

    #[test]
    fn pooled_inflaters_start_clean() {
        let gz = gzip(BODY);
        let want = count(BODY, Format::Text);
        for _ in 0..3 * POOL_MAX {
            // Abandoned mid-stream, so the pooled state is dirty.
            let mut a = DecodingCounter::new(Format::Text, Encoding::Gzip);
            a.feed(&gz[..gz.len() / 2]);
            let mut b = DecodingCounter::new(Format::Text, Encoding::Deflate);
            b.feed(&deflate(BODY)[..5]);
            drop(a);
            drop(b);
            assert_eq!(decode(&gz, Encoding::Gzip, &[]), want);
            assert_eq!(decode(&deflate(BODY), Encoding::Deflate, &[]), want);
        }
        assert!(POOL.lock().unwrap().len() <= POOL_MAX);
    }

    #[test]
    fn output_larger_than_the_buffer_across_members_and_chunks() {
        let line = b"some_metric{label=\"value\"} 1\n";
        let plain: Vec<u8> = line.repeat(3 * OUT_BUF / line.len() + 7);
        let want = count(&plain, Format::Text);
        let mut gz = gzip(&plain);
        gz.extend_from_slice(&gzip(&plain));
        let mut twice = plain.clone();
        twice.extend_from_slice(&plain);
        let want_twice = count(&twice, Format::Text);
        assert_eq!(decode(&gz, Encoding::Gzip, &[]), want_twice);
        let cuts: Vec<usize> = (1..gz.len()).step_by(3).collect();
        assert_eq!(decode(&gz, Encoding::Gzip, &cuts), want_twice);
        assert_eq!(decode(&deflate(&plain), Encoding::Deflate, &[1]), want);
    }

    /// A raw deflate stream can end with all of its input consumed while
    /// inflated output is still pending (the last match crosses the end of
    /// the output buffer): `finish` must drain it.
    #[test]
    fn pending_output_at_the_end_of_a_raw_stream_is_counted() {
        // With zlib-rs this happens for a run of one byte a few bytes
        // longer than the buffer.
        for extra in 0..64 {
            let plain = vec![b'a'; OUT_BUF + extra];
            let got = decode(&deflate(&plain), Encoding::Deflate, &[1]);
            assert_eq!(got, count(&plain, Format::Text), "{} bytes", plain.len());
        }
    }

    fn whole(body: &[u8], max: usize) -> Option<usize> {
        let mut decompressor = libdeflater::Decompressor::new();
        let mut out = Vec::new();
        let n = inflate_whole(&mut decompressor, body, &mut out, max)?;
        assert_eq!(count(&out[..n], Format::Text), count(BODY, Format::Text));
        Some(n)
    }

    #[test]
    fn whole_body_path_takes_exactly_one_complete_member() {
        let gz = gzip(BODY);
        assert_eq!(whole(&gz, 1 << 20), Some(BODY.len()));
        assert_eq!(whole(&gzip_all_fields(BODY), 1 << 20), Some(BODY.len()));
        assert_eq!(whole(&gz, BODY.len() - 1), None, "over the cap");
        // Two identical members: libdeflate alone would stop after the
        // first and find the last ISIZE matching.
        let mut two = gz.clone();
        two.extend_from_slice(&gz);
        assert_eq!(whole(&two, 1 << 20), None);
        let mut tail = gz.clone();
        tail.extend_from_slice(&gz[gz.len() - 8..]);
        assert_eq!(whole(&tail, 1 << 20), None, "trailing bytes");
        let mut bad_crc = gz.clone();
        let crc_at = gz.len() - 8;
        bad_crc[crc_at] ^= 1;
        assert_eq!(whole(&bad_crc, 1 << 20), None);
        assert_eq!(whole(&gz[..gz.len() - 1], 1 << 20), None);
        // These are counted by streaming instead, with the samples of every
        // complete member.
        let one = count(BODY, Format::Text).samples;
        assert!(one > 0);
        assert_eq!(decode(&two, Encoding::Gzip, &[]).samples, 2 * one);
        assert_eq!(decode(&tail, Encoding::Gzip, &[]).samples, one);
        // The CRC-32 is not checked: a bad one is counted without an error
        // (Prometheus fails that scrape).
        assert_eq!(
            decode(&bad_crc, Encoding::Gzip, &[]),
            count(BODY, Format::Text)
        );
    }

    /// A body whose compressed size passes the gathering limit switches to
    /// streaming in the middle and still counts like the plain body.
    #[test]
    fn large_compressed_body_leaves_the_whole_body_path() {
        let mut plain = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        while plain.len() < 3 * GATHER_MAX {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            plain.extend_from_slice(format!("m{{id=\"{x:016x}\"}} {}\n", x >> 40).as_bytes());
        }
        let gz = gzip(&plain);
        assert!(gz.len() > GATHER_MAX, "{}", gz.len());
        let want = count(&plain, Format::Text);
        for cut in [1, 10, 1000, GATHER_MAX - 1, GATHER_MAX, GATHER_MAX + 1] {
            let cuts: Vec<usize> = (cut..gz.len()).step_by(cut.max(4096)).collect();
            assert_eq!(decode(&gz, Encoding::Gzip, &cuts), want, "cut {cut}");
        }
        assert_eq!(count_gzip_whole(&gz, Format::Text), want);
    }
}
