//! The streaming front end: feed a body chunk by chunk, in bounded memory.
//!
//! # Buffer invariants
//!
//! - Complete records (text lines, protobuf messages) inside a chunk are
//!   parsed in place, straight from the caller's slice: no copy.
//! - Only the unfinished record at the end of a chunk is copied, into the
//!   carry-over buffer. The next chunk completes it; it is then parsed from
//!   the carry-over buffer and the buffer is emptied (its capacity is kept).
//! - The carry-over buffer never holds more than `max_record` bytes (plus a
//!   protobuf length prefix of at most 5 bytes): a line, or a message, longer
//!   than that is an error at that record, never growth. Memory per stream is
//!   therefore O(`max_record`), whatever the body size.
//! - The limit applies to every record the same way whether it arrived whole
//!   or split, so every way of splitting a body gives the same result.
//! - After the first error, or the end marker (`# EOF`, or a NUL byte at the
//!   start of a text line, which Prometheus treats as the end), further bytes
//!   are counted in [`Counts::bytes`] and otherwise ignored (OpenMetrics
//!   reports data after `# EOF` as an error, as Prometheus does).

use memchr::{memchr, memchr_iter};

use crate::count::{Counts, FamilyTracker};
use crate::error::ParseError;
use crate::format::Format;
use crate::proto::{for_each_series, length_prefix, scan_family};
use crate::sample::{NoVisitor, SampleRef, SampleVisitor};
use crate::text::{Entry, parse_om, parse_prom};

/// Default longest text line: 1 MiB (cAdvisor lines are a few KiB).
pub const DEFAULT_MAX_LINE: usize = 1 << 20;
/// Default largest protobuf message (one metric family): 64 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Counts a body fed in chunks, optionally showing each sample to a
/// [`SampleVisitor`].
///
/// ```
/// use promshard_parser::{Format, StreamCounter};
/// let mut counter = StreamCounter::new(Format::Text);
/// for chunk in [&b"# TYPE up gauge\nup{job=\"a\"} 1\nup{jo"[..], b"b=\"b\"} 0\n"] {
///     counter.feed(chunk);
/// }
/// let counts = counter.finish();
/// assert_eq!(counts.samples, 2);
/// assert_eq!(counts.family("up"), 2);
/// ```
#[derive(Debug)]
pub struct StreamCounter {
    format: Format,
    max_record: usize,
    carry: Vec<u8>,
    line_no: u64,
    msg_no: u64,
    msg_offset: u64,
    state: State,
    counts: Counts,
    families: FamilyTracker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// Saw the end marker; for OpenMetrics, more data is an error.
    Ended,
    Failed,
}

impl StreamCounter {
    /// A counter for a body in `format`, with the default record limit.
    pub fn new(format: Format) -> Self {
        let max = match format {
            Format::Protobuf => DEFAULT_MAX_MESSAGE,
            _ => DEFAULT_MAX_LINE,
        };
        Self::with_max_record(format, max)
    }

    /// A counter whose longest line (text) or message (protobuf) is
    /// `max_record` bytes; longer records are an error.
    pub fn with_max_record(format: Format, max_record: usize) -> Self {
        Self {
            format,
            max_record,
            carry: Vec::new(),
            line_no: 0,
            msg_no: 0,
            msg_offset: 0,
            state: State::Running,
            counts: Counts::default(),
            families: FamilyTracker::default(),
        }
    }

    /// The format being counted.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Counts the next chunk of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.feed_with(chunk, &mut NoVisitor);
    }

    /// Counts the next chunk, calling `visitor` for every counted sample.
    pub fn feed_with<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        self.counts.bytes += chunk.len() as u64;
        if chunk.is_empty() {
            return;
        }
        match self.state {
            State::Running => match self.format {
                Format::Protobuf => self.feed_proto(chunk, visitor),
                _ => self.feed_text(chunk, visitor),
            },
            State::Ended => self.after_end(chunk),
            State::Failed => {}
        }
    }

    /// Samples counted so far and the first error, if any.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Whether counting has stopped (error or end marker).
    pub fn is_done(&self) -> bool {
        self.state != State::Running
    }

    /// Ends the body: parses a last line without `\n`, reports a truncated
    /// protobuf message or a missing `# EOF`, and returns the figures.
    pub fn finish(self) -> Counts {
        self.finish_with(&mut NoVisitor)
    }

    /// [`finish`](Self::finish), showing a last sample to `visitor`.
    pub fn finish_with<V: SampleVisitor>(mut self, visitor: &mut V) -> Counts {
        if self.state == State::Running {
            match self.format {
                Format::Protobuf => {
                    if !self.carry.is_empty() {
                        let e = ParseError::at_message(
                            self.msg_no + 1,
                            self.msg_offset,
                            "the rest of the message",
                            "end of body (truncated message)",
                        );
                        self.fail(e);
                    }
                }
                fmt => {
                    if !self.carry.is_empty() {
                        let line = std::mem::take(&mut self.carry);
                        self.line(&line, false, visitor);
                    }
                    if fmt == Format::OpenMetrics && self.state == State::Running {
                        let e = ParseError::at_line(
                            self.line_no + 1,
                            1,
                            "# EOF at the end of the body",
                            "end of data",
                        );
                        self.fail(e);
                    }
                }
            }
        }
        self.families.flush(&mut self.counts.families);
        self.counts
    }

    fn fail(&mut self, e: ParseError) {
        self.state = State::Failed;
        if self.counts.error.is_none() {
            self.counts.error = Some(e);
        }
    }

    fn after_end(&mut self, rest: &[u8]) {
        if self.format == Format::OpenMetrics && !rest.is_empty() {
            let e =
                ParseError::at_line(self.line_no + 1, 1, "end of body after # EOF", "more data");
            self.fail(e);
        }
    }

    fn too_long(&mut self) {
        let e = ParseError::at_line(
            self.line_no + 1,
            self.max_record as u64 + 1,
            format!("a line of at most {} bytes", self.max_record),
            "a longer line",
        );
        self.fail(e);
    }

    fn feed_text<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        let mut rest = chunk;
        if !self.carry.is_empty() {
            let Some(nl) = memchr(b'\n', rest) else {
                if self.carry.len() + rest.len() > self.max_record {
                    self.too_long();
                } else {
                    self.carry.extend_from_slice(rest);
                }
                return;
            };
            if self.carry.len() + nl > self.max_record {
                self.too_long();
                return;
            }
            let mut line = std::mem::take(&mut self.carry);
            line.extend_from_slice(&rest[..nl]);
            self.line(&line, true, visitor);
            line.clear();
            self.carry = line;
            rest = &rest[nl + 1..];
            match self.state {
                State::Running => {}
                State::Ended => return self.after_end(rest),
                State::Failed => return,
            }
        }
        let mut start = 0;
        for nl in memchr_iter(b'\n', rest) {
            let line = &rest[start..nl];
            if line.len() > self.max_record {
                self.too_long();
                return;
            }
            self.line(line, true, visitor);
            start = nl + 1;
            if self.state != State::Running {
                if self.state == State::Ended {
                    self.after_end(&rest[start..]);
                }
                return;
            }
        }
        let tail = &rest[start..];
        if tail.len() > self.max_record {
            self.too_long();
            return;
        }
        self.carry.extend_from_slice(tail);
    }

    #[inline]
    fn line<V: SampleVisitor>(&mut self, line: &[u8], terminated: bool, visitor: &mut V) {
        self.line_no += 1;
        let parsed = if self.format == Format::OpenMetrics {
            parse_om(line, terminated)
        } else {
            parse_prom(line)
        };
        match parsed {
            Ok(Entry::Sample(s)) => {
                self.counts.samples += 1;
                self.families
                    .sample(s.name.raw(), &mut self.counts.families);
                if V::ENABLED {
                    visitor.sample(&SampleRef::text(s, self.line_no));
                }
            }
            Ok(entry) => {
                match entry {
                    Entry::Type { name, kind } => self.families.declare(name.raw(), Some(kind)),
                    Entry::Help { name, .. } | Entry::Unit { name, .. } => {
                        self.families.declare(name.raw(), None)
                    }
                    Entry::Eof => self.state = State::Ended,
                    Entry::Comment(_) | Entry::Blank | Entry::Sample(_) => {}
                }
                if V::ENABLED {
                    visitor.metadata(self.line_no, &entry);
                }
            }
            Err(e) => {
                let e = e.into_parse_error(self.line_no, line);
                self.fail(e);
            }
        }
    }

    fn feed_proto<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        let mut rest = chunk;
        if !self.carry.is_empty() {
            let (plen, mlen) = loop {
                match length_prefix(&self.carry) {
                    Ok(Some(x)) => break x,
                    Ok(None) => {
                        let Some((&b, r)) = rest.split_first() else {
                            return;
                        };
                        self.carry.push(b);
                        rest = r;
                    }
                    Err(what) => return self.proto_prefix_error(what),
                }
            };
            let Some(total) = self.message_total(plen, mlen) else {
                return;
            };
            let take = (total - self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.carry.len() < total {
                return;
            }
            let msg = std::mem::take(&mut self.carry);
            self.message(&msg[plen..], total, visitor);
            self.carry = msg;
            self.carry.clear();
            if self.state != State::Running {
                return;
            }
        }
        while !rest.is_empty() {
            match length_prefix(rest) {
                Ok(Some((plen, mlen))) => {
                    let Some(total) = self.message_total(plen, mlen) else {
                        return;
                    };
                    if rest.len() < total {
                        break;
                    }
                    self.message(&rest[plen..total], total, visitor);
                    rest = &rest[total..];
                    if self.state != State::Running {
                        return;
                    }
                }
                Ok(None) => break,
                Err(what) => return self.proto_prefix_error(what),
            }
        }
        self.carry.extend_from_slice(rest);
    }

    fn proto_prefix_error(&mut self, what: &'static str) {
        let e = ParseError::at_message(self.msg_no + 1, self.msg_offset, what, "a longer varint");
        self.fail(e);
    }

    fn message_total(&mut self, plen: usize, mlen: u64) -> Option<usize> {
        match usize::try_from(mlen) {
            Ok(m) if m <= self.max_record => Some(plen + m),
            _ => {
                let e = ParseError::at_message(
                    self.msg_no + 1,
                    self.msg_offset,
                    format!("a message of at most {} bytes", self.max_record),
                    format!("a length prefix of {mlen} bytes"),
                );
                self.fail(e);
                None
            }
        }
    }

    fn message<V: SampleVisitor>(&mut self, msg: &[u8], total: usize, visitor: &mut V) {
        self.msg_no += 1;
        let scan = scan_family(msg);
        if scan.series > 0 {
            self.counts.samples += scan.series;
            self.families
                .add(scan.name, scan.series, &mut self.counts.families);
            if V::ENABLED {
                let msg_no = self.msg_no;
                for_each_series(msg, &scan, |s| {
                    visitor.sample(&SampleRef::proto(*s, msg_no))
                });
            }
        }
        if let Some(e) = scan.error {
            let e = ParseError::at_message(
                self.msg_no,
                self.msg_offset,
                e.what,
                format!("invalid data at byte {} of the message", e.offset),
            );
            self.fail(e);
            return;
        }
        self.msg_offset += total as u64;
    }
}

/// Counts a whole body in one call (the same code path as streaming).
///
/// ```
/// use promshard_parser::{count, Format};
/// let counts = count(b"a 1\nb{x=\"y\"} 2\n", Format::Text);
/// assert_eq!(counts.samples, 2);
/// ```
pub fn count(body: &[u8], format: Format) -> Counts {
    let mut c = StreamCounter::new(format);
    c.feed(body);
    c.finish()
}

/// Counts a whole body, calling `visitor` for every sample.
pub fn count_with<V: SampleVisitor>(body: &[u8], format: Format, visitor: &mut V) -> Counts {
    let mut c = StreamCounter::new(format);
    c.feed_with(body, visitor);
    c.finish_with(visitor)
}
