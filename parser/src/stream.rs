//! The streaming front end: feed a body chunk by chunk, in bounded memory.
//!
//! # Buffer invariants
//!
//! - Complete records (text lines, protobuf messages) inside a chunk are
//!   parsed in place, straight from the caller's slice: no copy.
//! - Only the unfinished record at the end of a chunk is copied, into the
//!   carry-over buffer. The next chunk completes it; it is then parsed from
//!   the carry-over buffer and the buffer is emptied (its capacity is kept).
//! - Protobuf, plain counting: a message (one metric family, often several
//!   MB) is not gathered. Its top-level fields (name, help, type, and each
//!   `Metric`) are walked in place as they arrive, and only the field cut by
//!   the end of a chunk is copied, so the carry-over buffer holds at most one
//!   field (one metric, typically under a KiB) plus a length prefix. The
//!   family's series are added when its last byte has been walked; an error
//!   inside it is reported then too, so a message cut short by the end of
//!   the body is reported as truncated, as Prometheus (which reads the whole
//!   message first) does. The rare field whose end only a walk finds (an
//!   unknown group) makes the buffer gather the rest of that message.
//! - Protobuf with a [`SampleVisitor`]: the series it is shown borrow from
//!   the message, so a message split across chunks is gathered whole first.
//! - The carry-over buffer never holds more than `max_record` bytes (plus a
//!   protobuf length prefix of at most 5 bytes): a line, or a message, longer
//!   than that is an error at that record, never growth. Memory per stream is
//!   therefore O(`max_record`), whatever the body size (plus, for protobuf,
//!   a copy of the current family's name, part of the same message).
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
use crate::proto::{
    FamilyScan, FamilyScanner, FieldLen, WireError, field_len, for_each_series, length_prefix,
    walk_from,
};
use crate::sample::{NoVisitor, SampleRef, SampleVisitor};
use crate::text::{Entry, QuickPrev, parse_om, parse_prom, quick_om_sample, quick_prom_sample};

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
    pb: ProtoMessage,
    scanner: FamilyScanner,
}

/// The protobuf message being read.
#[derive(Debug, Default)]
struct ProtoMessage {
    /// Its length, once the length prefix has been read.
    len: Option<usize>,
    prefix_len: usize,
    mode: ProtoMode,
    /// Field mode: bytes of the message walked (or skipped after an error);
    /// the carry-over buffer holds the next ones.
    walked: usize,
    /// Field mode: the carried field's end is unknown (a group), so the
    /// carry-over buffer gathers the rest of the message.
    carry_all: bool,
    /// Field mode: the error found in the message, reported at its end.
    error: Option<WireError>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ProtoMode {
    /// Gathered into one buffer, then walked (when a visitor is shown the
    /// series).
    #[default]
    Whole,
    /// Walked field by field as the bytes arrive (plain counting).
    Fields,
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
            pb: ProtoMessage::default(),
            scanner: FamilyScanner::default(),
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
    ///
    /// Use one kind of call for a whole body: a protobuf message that began
    /// in a chunk fed without a visitor is walked as it arrives, so its
    /// series are counted but not shown to a visitor passed later.
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

    /// Bytes of the body held between chunks (the carry-over buffer's
    /// capacity): at most about one record, whatever the body size.
    pub fn buffered_bytes(&self) -> usize {
        self.carry.capacity()
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
                    if self.pb.len.is_some() || !self.carry.is_empty() {
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
        // The previous line of this chunk, while the fast path counts.
        let mut prev = QuickPrev::default();
        for nl in memchr_iter(b'\n', rest) {
            let line = &rest[start..nl];
            if line.len() > self.max_record {
                self.too_long();
                return;
            }
            start = nl + 1;
            if !V::ENABLED {
                if let Some(next) = self.quick_sample(line, true, &prev) {
                    prev = next;
                    continue;
                }
                prev = QuickPrev::default();
            }
            self.full_line(line, true, visitor);
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

    /// A line completed from the carry-over buffer, or the last one: the
    /// fast path first when nothing is visited, as in [`feed_text`](Self::feed_text).
    #[inline]
    fn line<V: SampleVisitor>(&mut self, line: &[u8], terminated: bool, visitor: &mut V) {
        if !V::ENABLED
            && self
                .quick_sample(line, terminated, &QuickPrev::default())
                .is_some()
        {
            return;
        }
        self.full_line(line, terminated, visitor);
    }

    /// Parses `line` with the full line parser (the fast path declined it,
    /// or a visitor needs its labels).
    #[inline]
    fn full_line<V: SampleVisitor>(&mut self, line: &[u8], terminated: bool, visitor: &mut V) {
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

    /// Counts `line` if the counting fast path recognises it as a sample
    /// (`prev`: the line before, if the fast path counted it); `None`
    /// (nothing counted) when the full parser must see it.
    #[inline(always)]
    fn quick_sample<'l>(
        &mut self,
        line: &'l [u8],
        terminated: bool,
        prev: &QuickPrev<'_>,
    ) -> Option<QuickPrev<'l>> {
        let (next, same) = if self.format == Format::OpenMetrics {
            if !terminated {
                return None;
            }
            quick_om_sample(line, prev)?
        } else {
            quick_prom_sample(line, prev)?
        };
        self.line_no += 1;
        self.counts.samples += 1;
        if same {
            // The family of the previous sample, which was counted last.
            self.families.repeat();
        } else {
            self.families.sample(next.name(), &mut self.counts.families);
        }
        Some(next)
    }

    fn feed_proto<V: SampleVisitor>(&mut self, chunk: &[u8], visitor: &mut V) {
        let mut rest = chunk;
        while !rest.is_empty() && self.state == State::Running {
            if self.pb.len.is_none() && !self.proto_prefix(&mut rest, V::ENABLED) {
                return;
            }
            match self.pb.mode {
                ProtoMode::Whole => self.proto_whole(&mut rest, visitor),
                ProtoMode::Fields => self.proto_fields(&mut rest),
            }
        }
    }

    /// Reads the length prefix of the next message (carrying a partial
    /// one). Returns whether a message has started.
    fn proto_prefix(&mut self, rest: &mut &[u8], visiting: bool) -> bool {
        let (plen, mlen) = if self.carry.is_empty() {
            match length_prefix(rest) {
                Ok(Some(x)) => {
                    *rest = &rest[x.0..];
                    x
                }
                Ok(None) => {
                    self.carry.extend_from_slice(rest);
                    *rest = &[];
                    return false;
                }
                Err(what) => {
                    self.proto_prefix_error(what);
                    return false;
                }
            }
        } else {
            loop {
                match length_prefix(&self.carry) {
                    Ok(Some(x)) => break x,
                    Ok(None) => {
                        let Some((&b, r)) = rest.split_first() else {
                            return false;
                        };
                        self.carry.push(b);
                        *rest = r;
                    }
                    Err(what) => {
                        self.proto_prefix_error(what);
                        return false;
                    }
                }
            }
        };
        self.carry.clear();
        let Some(len) = self.message_len(mlen) else {
            return false;
        };
        // A visitor needs the whole message in one buffer to show series
        // that borrow from it; plain counting walks it field by field.
        self.pb = ProtoMessage {
            len: Some(len),
            prefix_len: plen,
            mode: if visiting {
                ProtoMode::Whole
            } else {
                ProtoMode::Fields
            },
            walked: 0,
            carry_all: false,
            error: None,
        };
        if self.pb.mode == ProtoMode::Fields {
            self.scanner.reset();
            if len == 0 {
                self.end_fields_message();
            }
        } else if len == 0 {
            self.message(&[], &mut NoVisitor);
        }
        true
    }

    /// Whole-message mode: the message is walked from the chunk when it is
    /// all there, else gathered in the carry-over buffer first.
    fn proto_whole<V: SampleVisitor>(&mut self, rest: &mut &[u8], visitor: &mut V) {
        let Some(len) = self.pb.len else { return };
        if self.carry.is_empty() && rest.len() >= len {
            let (msg, tail) = rest.split_at(len);
            *rest = tail;
            self.message(msg, visitor);
            return;
        }
        if self.carry.is_empty() {
            self.carry.reserve(len);
        }
        let take = (len - self.carry.len()).min(rest.len());
        self.carry.extend_from_slice(&rest[..take]);
        *rest = &rest[take..];
        if self.carry.len() == len {
            let msg = std::mem::take(&mut self.carry);
            self.message(&msg, visitor);
            self.carry = msg;
            self.carry.clear();
        }
    }

    /// Field mode: the message's top-level fields (name, help, type, each
    /// metric) are walked in place as they arrive; only a field cut by the
    /// end of a chunk is copied, and the family's counts are added when its
    /// last byte has been walked.
    fn proto_fields(&mut self, rest: &mut &[u8]) {
        let Some(len) = self.pb.len else { return };
        let left = len - self.pb.walked - self.carry.len();
        let (mut region, tail) = rest.split_at(left.min(rest.len()));
        *rest = tail;
        let to_end = region.len() == left;
        if self.pb.error.is_some() {
            // The message is bad, but Prometheus reads all of it first (a
            // truncated body is reported as that).
            self.pb.walked += region.len();
        } else {
            if !self.carry.is_empty() || self.pb.carry_all {
                region = self.complete_carried_field(region, to_end);
                if !self.carry.is_empty() || self.pb.error.is_some() {
                    self.pb.walked += region.len();
                    return self.end_fields_if_done();
                }
            }
            let base = self.pb.walked;
            let scanner = &mut self.scanner;
            match walk_from(region, to_end, base, |f, v, at| scanner.field(f, v, at)) {
                Ok(n) => {
                    self.pb.walked += n;
                    self.carry.extend_from_slice(&region[n..]);
                }
                Err(e) => {
                    self.pb.error = Some(e);
                    self.pb.walked += region.len();
                }
            }
        }
        self.end_fields_if_done();
    }

    /// Adds bytes from `region` to the field in the carry-over buffer until
    /// it is complete, then walks it. Returns what is left of `region`.
    fn complete_carried_field<'c>(&mut self, mut region: &'c [u8], to_end: bool) -> &'c [u8] {
        loop {
            let want = if self.pb.carry_all {
                region.len()
            } else {
                match field_len(&self.carry) {
                    FieldLen::Known(n) => n.saturating_sub(self.carry.len()),
                    // Tags and lengths are at most 10 bytes each.
                    FieldLen::MoreHeader => 1,
                    FieldLen::Unknown => {
                        // A group: its end is only found by walking it, so
                        // the rest of the message is gathered and walked once.
                        self.pb.carry_all = true;
                        region.len()
                    }
                }
            };
            let take = want.min(region.len());
            self.carry.extend_from_slice(&region[..take]);
            region = &region[take..];
            let whole_field = !self.pb.carry_all
                && matches!(field_len(&self.carry), FieldLen::Known(n) if n <= self.carry.len());
            let at_end = to_end && region.is_empty();
            if whole_field || at_end {
                let base = self.pb.walked;
                let scanner = &mut self.scanner;
                match walk_from(&self.carry, true, base, |f, v, at| scanner.field(f, v, at)) {
                    Ok(n) => self.pb.walked += n,
                    Err(e) => self.pb.error = Some(e),
                }
                if self.pb.error.is_some() {
                    self.pb.walked += self.carry.len();
                }
                self.carry.clear();
                return region;
            }
            if region.is_empty() {
                return region;
            }
        }
    }

    fn end_fields_if_done(&mut self) {
        if self.pb.len == Some(self.pb.walked) {
            self.end_fields_message();
        }
    }

    /// The last byte of a field-mode message has been walked.
    fn end_fields_message(&mut self) {
        let walked = match self.pb.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        };
        let scan = self.scanner.finish(walked);
        let total = self.pb.prefix_len + self.pb.len.unwrap_or(0);
        self.pb.len = None;
        self.msg_no += 1;
        if scan.series > 0 {
            self.counts.samples += scan.series;
            self.families
                .add(self.scanner.name(), scan.series, &mut self.counts.families);
        }
        self.end_message(scan, total);
    }

    fn proto_prefix_error(&mut self, what: &'static str) {
        let e = ParseError::at_message(self.msg_no + 1, self.msg_offset, what, "a longer varint");
        self.fail(e);
    }

    fn message_len(&mut self, mlen: u64) -> Option<usize> {
        match usize::try_from(mlen) {
            Ok(m) if m <= self.max_record => Some(m),
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

    /// Whole-message mode: counts (and shows) one complete message.
    fn message<V: SampleVisitor>(&mut self, msg: &[u8], visitor: &mut V) {
        let total = self.pb.prefix_len + msg.len();
        self.pb.len = None;
        self.msg_no += 1;
        let scan = self.scanner.scan(msg);
        if scan.series > 0 {
            self.counts.samples += scan.series;
            self.families
                .add(self.scanner.name(), scan.series, &mut self.counts.families);
            if V::ENABLED {
                let msg_no = self.msg_no;
                let name = self.scanner.name();
                for_each_series(msg, name, &scan, |s| {
                    visitor.sample(&SampleRef::proto(*s, msg_no))
                });
            }
        }
        self.end_message(scan, total);
    }

    fn end_message(&mut self, scan: FamilyScan, total: usize) {
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
