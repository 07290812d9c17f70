//! Line parsers for the Prometheus text format (0.0.4, with Prometheus 3
//! quoted UTF-8 names) and OpenMetrics 1.0 text.
//!
//! Each function parses one line (without its `\n`) into an [`Entry`] whose
//! parts are slices of the line. The rules are Prometheus's own lexers
//! (`model/textparse/promlex.l`, `openmetricslex.l`) transcribed: what
//! Prometheus rejects is an error here, what it accepts is accepted, so the
//! counting path counts what a scrape ingests. Label values stay escaped;
//! [`LabelStr::to_str`] unescapes on demand.
//!
//! Counting without a visitor first tries a fast path
//! ([`quick_prom_sample`], [`quick_om_sample`]) that only recognises sample
//! lines in the common strict shape and their metric name, resuming after
//! the prefix a line shares with the previous one; every other line goes to
//! the full line parser.

use std::borrow::Cow;

use crate::error::LineError;
use crate::float::{digits_fit_i64, go_float_ok, parse_go_float, parse_i64_digits};

const NAME_START: u8 = 1; // [a-zA-Z_:]
const NAME_CONT: u8 = 2; // [a-zA-Z0-9_:]
const LNAME_START: u8 = 4; // [a-zA-Z_]
const LNAME_CONT: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        #[allow(clippy::cast_possible_truncation)] // c < 256
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut v = 0;
        if alpha || b == b':' {
            v |= NAME_START | NAME_CONT;
        }
        if digit {
            v |= NAME_CONT | LNAME_CONT;
        }
        if alpha {
            v |= LNAME_START | LNAME_CONT;
        }
        t[c] = v;
        c += 1;
    }
    t
};

#[inline]
fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

#[inline]
fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_ws(line[i]) {
        i += 1;
    }
    i
}

/// Index of the first byte at or after `i` not in the class `bit`. Tests
/// eight bytes per step with one branch (names are long: `..._bucket`).
#[inline]
fn scan_class(line: &[u8], mut i: usize, bit: u8) -> usize {
    while let Some(w) = line.get(i..i + 8) {
        let all = class(w[0])
            & class(w[1])
            & class(w[2])
            & class(w[3])
            & class(w[4])
            & class(w[5])
            & class(w[6])
            & class(w[7]);
        if all & bit == 0 {
            break;
        }
        i += 8;
    }
    while i < line.len() && class(line[i]) & bit != 0 {
        i += 1;
    }
    i
}

/// The metric types a `# TYPE` line can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    Stateset,
    /// `untyped` (text) or `unknown` (OpenMetrics)
    Unknown,
}

impl MetricType {
    fn from_prom(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => Self::Counter,
            b"gauge" => Self::Gauge,
            b"histogram" => Self::Histogram,
            b"summary" => Self::Summary,
            b"untyped" => Self::Unknown,
            _ => return None,
        })
    }

    fn from_om(s: &[u8]) -> Option<Self> {
        Some(match s {
            b"counter" => Self::Counter,
            b"gauge" => Self::Gauge,
            b"histogram" => Self::Histogram,
            b"gaugehistogram" => Self::GaugeHistogram,
            b"summary" => Self::Summary,
            b"info" => Self::Info,
            b"stateset" => Self::Stateset,
            b"unknown" => Self::Unknown,
            _ => return None,
        })
    }

    /// The keyword as written in a `# TYPE` line (OpenMetrics spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
            Self::GaugeHistogram => "gaugehistogram",
            Self::Summary => "summary",
            Self::Info => "info",
            Self::Stateset => "stateset",
            Self::Unknown => "unknown",
        }
    }

    /// The sample-name suffixes a family of this type may use.
    pub(crate) fn suffixes(self) -> &'static [&'static [u8]] {
        match self {
            Self::Counter => &[b"_total", b"_created"],
            Self::Histogram => &[b"_bucket", b"_sum", b"_count", b"_created"],
            Self::GaugeHistogram => &[b"_bucket", b"_gsum", b"_gcount"],
            Self::Summary => &[b"_sum", b"_count", b"_created"],
            Self::Info => &[b"_info"],
            Self::Gauge | Self::Stateset | Self::Unknown => &[],
        }
    }
}

/// A name or label value as it appears in the input: the bytes between the
/// quotes (still escaped) for quoted strings, the bare bytes otherwise.
///
/// Two are equal when their bytes are, and both or neither have escapes to
/// resolve.
#[derive(Debug, Clone, Copy)]
pub struct LabelStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl PartialEq for LabelStr<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.needs_unescape() == other.needs_unescape()
    }
}

impl Eq for LabelStr<'_> {}

impl<'a> LabelStr<'a> {
    pub(crate) fn bare(raw: &'a [u8]) -> Self {
        Self {
            raw,
            escaped: false,
        }
    }

    pub(crate) fn quoted(raw: &'a [u8]) -> Self {
        Self { raw, escaped: true }
    }

    /// The bytes as they appear in the input (escapes not resolved).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether a metric name from the line parsers was written quoted
    /// (`{"my.metric"}`): those are always marked as possibly escaped, bare
    /// names never. (Label strings are marked only when they have a
    /// backslash, so this says nothing about them.)
    pub(crate) fn is_quoted_name(&self) -> bool {
        self.escaped
    }

    /// Whether the raw bytes contain an escape sequence to resolve.
    pub fn needs_unescape(&self) -> bool {
        self.escaped && memchr::memchr(b'\\', self.raw).is_some()
    }

    /// The text with `\\`, `\"` and `\n` resolved (other backslashes kept, as
    /// Prometheus does). Borrows unless an escape had to be resolved.
    pub fn to_str(&self) -> Cow<'a, str> {
        if self.needs_unescape() {
            return Cow::Owned(unescape(self.raw, true));
        }
        // Parsed names and values are valid UTF-8 already: this is the
        // fast check, the lossy conversion only a fallback.
        match std::str::from_utf8(self.raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(self.raw),
        }
    }

    /// Appends the bytes with escapes resolved (as [`to_str`](Self::to_str))
    /// to `out`, without allocating a string of their own.
    pub(crate) fn unescape_into(&self, out: &mut Vec<u8>) {
        let first = if self.escaped {
            memchr::memchr(b'\\', self.raw)
        } else {
            None
        };
        match first {
            Some(first) => {
                out.extend_from_slice(&self.raw[..first]);
                unescape_bytes(&self.raw[first..], true, out);
            }
            None => out.extend_from_slice(self.raw),
        }
    }
}

/// Resolves `\\`, `\n` and (when `quote`) `\"` the way Prometheus's
/// `strings.Replacer`s do: left to right, unknown escapes kept verbatim.
pub(crate) fn unescape(raw: &[u8], quote: bool) -> String {
    let mut out = Vec::with_capacity(raw.len());
    unescape_bytes(raw, quote, &mut out);
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn unescape_bytes(raw: &[u8], quote: bool, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                    continue;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                    continue;
                }
                b'"' if quote => {
                    out.push(b'"');
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(b);
        i += 1;
    }
}

/// One line of a text exposition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Entry<'a> {
    /// A sample line.
    Sample(Sample<'a>),
    /// `# HELP name text` (text still escaped: see [`Entry::help_text`]).
    Help {
        /// The family name.
        name: LabelStr<'a>,
        /// The raw help text.
        text: &'a [u8],
    },
    /// `# TYPE name type`
    Type {
        /// The family name.
        name: LabelStr<'a>,
        /// The declared type.
        kind: MetricType,
    },
    /// `# UNIT name unit` (OpenMetrics)
    Unit {
        /// The family name.
        name: LabelStr<'a>,
        /// The unit.
        unit: &'a [u8],
    },
    /// Any other `#` line (Prometheus text only).
    Comment(&'a [u8]),
    /// An empty or whitespace-only line (Prometheus text only).
    Blank,
    /// `# EOF` (OpenMetrics), or a NUL byte at the start of a line, which
    /// Prometheus's text lexer treats as the end of the body.
    Eof,
}

impl Entry<'_> {
    /// The unescaped text of a `# HELP` entry.
    pub fn help_text(&self) -> Option<String> {
        match self {
            Entry::Help { text, .. } => Some(unescape(text, false)),
            _ => None,
        }
    }
}

/// A sample line, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The metric name (quoted form for `{"my.metric"}` names).
    pub name: LabelStr<'a>,
    /// Everything between `{` and `}` (empty without braces).
    pub labels_raw: &'a [u8],
    /// The value token.
    pub value_raw: &'a [u8],
    /// The timestamp token, if any.
    pub timestamp_raw: Option<&'a [u8]>,
    /// The exemplar (OpenMetrics).
    pub exemplar: Option<Exemplar<'a>>,
    pub(crate) om: bool,
}

/// An OpenMetrics exemplar: `# {labels} value [timestamp]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exemplar<'a> {
    /// Everything between `{` and `}`.
    pub labels_raw: &'a [u8],
    /// The value token.
    pub value_raw: &'a [u8],
    /// The timestamp token, if any.
    pub timestamp_raw: Option<&'a [u8]>,
    /// Column (0-based) of the `#` in the line, for error messages.
    pub(crate) col: usize,
    pub(crate) labels_col: usize,
}

impl<'a> Exemplar<'a> {
    /// The exemplar's labels.
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.labels_raw)
    }

    /// The exemplar value.
    pub fn value(&self) -> f64 {
        parse_go_float(self.value_raw).unwrap_or(f64::NAN)
    }
}

impl<'a> Sample<'a> {
    /// The metric name with escapes resolved.
    pub fn metric_name(&self) -> Cow<'a, str> {
        self.name.to_str()
    }

    /// The labels, without the metric name, in input order.
    pub fn labels(&self) -> Labels<'a> {
        Labels::new(self.labels_raw)
    }

    /// The sample value (NaN if the token is not a float: cannot happen for
    /// a parsed sample).
    pub fn value(&self) -> f64 {
        parse_go_float(self.value_raw).unwrap_or(f64::NAN)
    }

    /// The timestamp in milliseconds (OpenMetrics seconds are converted).
    pub fn timestamp_ms(&self) -> Option<i64> {
        let raw = self.timestamp_raw?;
        if self.om {
            // Matches Prometheus: int64(ts * 1000).
            #[allow(clippy::cast_possible_truncation)] // Go's int64(f) truncates too
            parse_go_float(raw).map(|s| (s * 1000.0) as i64)
        } else {
            parse_i64_digits(raw)
        }
    }
}

/// Iterator over `(name, value)` label pairs of a parsed label set. The input
/// was validated when the line was parsed, so iteration cannot fail.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    raw: &'a [u8],
    pos: usize,
    started: bool,
    lenient: Leniency,
}

/// Whether the pairs read use the text format's leniency. Only the tests'
/// validators ask, so in other builds it records nothing and the checks
/// are not run.
#[derive(Debug, Clone, Copy, Default)]
struct Leniency(#[cfg(test)] bool);

impl Leniency {
    #[inline(always)]
    fn note(&mut self, lenient: impl FnOnce() -> bool) {
        #[cfg(test)]
        {
            self.0 |= lenient();
        }
        #[cfg(not(test))]
        let _ = lenient;
    }
}

/// Whether the blanks and commas in `raw[sep..i]`, before a pair (or at the
/// end when `i` is the end), are the strict syntax: nothing before the first
/// pair, exactly one `,` between pairs, and at most one after the last.
#[inline]
pub(crate) fn separator_is_strict(raw: &[u8], started: bool, sep: usize, i: usize) -> bool {
    match (started, i - sep) {
        (false, 0) => true,
        (true, 0) => i >= raw.len(),
        (true, 1) => raw[sep] == b',',
        _ => false,
    }
}

impl<'a> Labels<'a> {
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            pos: 0,
            started: false,
            lenient: Leniency::default(),
        }
    }

    /// Whether the pairs read so far use the text format's whitespace and
    /// comma leniency (blanks around names, `=` and commas, missing or
    /// doubled commas) that the strict validator rejects.
    #[cfg(test)]
    pub(crate) fn lenient(&self) -> bool {
        self.lenient.0
    }

    /// The next pair with the byte offsets of its name and value in the
    /// label set.
    #[inline]
    pub(crate) fn next_at(&mut self) -> Option<(usize, LabelStr<'a>, usize, LabelStr<'a>)> {
        let raw = self.raw;
        loop {
            let sep = self.pos;
            let mut i = sep;
            while i < raw.len() && matches!(raw[i], b' ' | b'\t' | b',') {
                i += 1;
            }
            self.lenient
                .note(|| !separator_is_strict(raw, self.started, sep, i));
            if i >= raw.len() {
                self.pos = i;
                return None;
            }
            self.started = true;
            // Where the name's bytes start (inside the quotes when quoted).
            let name_at = i + usize::from(raw[i] == b'"');
            let name = if raw[i] == b'"' {
                let (end, n) = quoted_str(raw, i)?;
                i = end;
                n
            } else {
                let end = scan_class(raw, i, LNAME_CONT).max(i + 1);
                let n = LabelStr::bare(&raw[i..end]);
                i = end;
                n
            };
            let name_end = i;
            i = skip_ws(raw, i);
            self.lenient.note(|| i != name_end);
            if i >= raw.len() || raw[i] != b'=' {
                // A quoted metric name inside the braces: not a label.
                self.pos = i;
                continue;
            }
            let eq = i;
            i = skip_ws(raw, i + 1);
            self.lenient.note(|| i != eq + 1);
            let (end, value) = quoted_str(raw, i)?;
            self.pos = end;
            return Some((name_at, name, i + 1, value));
        }
    }
}

impl<'a> Iterator for Labels<'a> {
    type Item = (LabelStr<'a>, LabelStr<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.next_at().map(|(_, name, _, value)| (name, value))
    }
}

/// Index just past the closing quote of the quoted string starting at `i`,
/// and the string between the quotes (escapes unresolved). Eight bytes per
/// step, as [`scan_quoted`]; the string was validated when its line was
/// parsed.
#[inline]
pub(crate) fn quoted_str(line: &[u8], i: usize) -> Option<(usize, LabelStr<'_>)> {
    let mut j = i + 1;
    let mut escapes = false;
    loop {
        if let Some(w) = word_at(line, j) {
            let m = special_bytes(w);
            if m == 0 {
                j += 8;
                continue;
            }
            j += (m.trailing_zeros() / 8) as usize;
        }
        match *line.get(j)? {
            b'"' => {
                let raw = &line[i + 1..j];
                // Only a string with a backslash has escapes to resolve.
                let s = if escapes {
                    LabelStr::quoted(raw)
                } else {
                    LabelStr::bare(raw)
                };
                return Some((j + 1, s));
            }
            b'\\' => {
                escapes = true;
                j += 2;
            }
            _ => j += 1,
        }
    }
}

/// The first 8 bytes at `i`, little-endian, if there are 8 (one bounds
/// check: fewer instructions per word than `get(i..)` and `first_chunk`).
#[inline(always)]
fn word_at(line: &[u8], i: usize) -> Option<u64> {
    let w = line.get(i..i + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    Some(u64::from_le_bytes(a))
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is `"`, `\\` or non-ASCII (exact for
/// the lowest such byte, which is all the caller uses).
#[inline(always)]
fn special_bytes(x: u64) -> u64 {
    let q = x ^ (LO * u64::from(b'"'));
    let bs = x ^ (LO * u64::from(b'\\'));
    ((q.wrapping_sub(LO) & !q) | (bs.wrapping_sub(LO) & !bs) | x) & HI
}

/// Scans and validates a quoted string at `i` (which must be `"`): returns
/// the index past the closing quote.
///
/// Eight bytes at a time: one word test finds the next quote, backslash or
/// non-ASCII byte, so plain ASCII values cost about one step per word and the
/// UTF-8 check runs only for values that have non-ASCII bytes.
#[inline]
fn scan_quoted(line: &[u8], i: usize) -> Result<usize, LineError> {
    let n = line.len();
    let mut j = i + 1;
    let mut ascii = true;
    let end = loop {
        if let Some(w) = word_at(line, j) {
            let m = special_bytes(w);
            if m == 0 {
                j += 8;
                continue;
            }
            j += (m.trailing_zeros() / 8) as usize;
        }
        if j >= n {
            return Err(LineError::found(i, "a closing '\"'", "end of line"));
        }
        match line[j] {
            b'"' => break j + 1,
            b'\\' => {
                ascii &= line.get(j + 1).is_none_or(|&c| c < 0x80);
                j += 2;
            }
            c => {
                ascii &= c < 0x80;
                j += 1;
            }
        }
    };
    if !ascii && std::str::from_utf8(&line[i + 1..end - 1]).is_err() {
        return Err(LineError::found(i, "valid UTF-8", "invalid UTF-8"));
    }
    Ok(end)
}

/// Parses one line of the Prometheus text format.
pub(crate) fn parse_prom(line: &[u8]) -> Result<Entry<'_>, LineError> {
    let n = line.len();
    let i = skip_ws(line, 0);
    if i == n {
        return Ok(Entry::Blank);
    }
    let c = line[i];
    if c == b'#' {
        return parse_prom_comment(line, i);
    }
    if c == 0 {
        return Ok(Entry::Eof);
    }
    let (mut name, mut i) = if class(c) & NAME_START != 0 {
        let e = scan_class(line, i + 1, NAME_CONT);
        (Some(LabelStr::bare(&line[i..e])), e)
    } else if c == b'{' {
        (None, i)
    } else {
        return Err(LineError::new(i, "a metric name, '#' or end of line"));
    };
    i = skip_ws(line, i);
    let mut labels_raw: &[u8] = &[];
    if i < n && line[i] == b'{' {
        let (close, qname) = scan_prom_labels(line, i + 1)?;
        if let Some(q) = qname {
            if name.is_some() {
                return Err(second_name(i));
            }
            name = Some(q);
        }
        labels_raw = &line[i + 1..close];
        i = skip_ws(line, close + 1);
    }
    let Some(name) = name else {
        return Err(LineError::found(
            i,
            "a quoted metric name in the braces",
            "none",
        ));
    };
    let vs = i;
    while i < n && !matches!(line[i], b' ' | b'\t' | b'{') {
        i += 1;
    }
    if i == vs {
        return Err(LineError::new(vs, "a value after the metric"));
    }
    let value_raw = &line[vs..i];
    if !go_float_ok(value_raw) {
        return Err(LineError::new(vs, "a float value"));
    }
    i = skip_ws(line, i);
    let mut timestamp_raw = None;
    if i < n {
        if !line[i].is_ascii_digit() {
            return Err(LineError::new(i, "a timestamp or end of line"));
        }
        let ts = i;
        while i < n && line[i].is_ascii_digit() {
            i += 1;
        }
        if !digits_fit_i64(&line[ts..i]) {
            return Err(LineError::found(
                ts,
                "an int64 millisecond timestamp",
                "a number out of range",
            ));
        }
        timestamp_raw = Some(&line[ts..i]);
        i = skip_ws(line, i);
        if i < n {
            return Err(LineError::new(i, "end of line after the timestamp"));
        }
    }
    Ok(Entry::Sample(Sample {
        name,
        labels_raw,
        value_raw,
        timestamp_raw,
        exemplar: None,
        om: false,
    }))
}

/// Labels after `{` in Prometheus text: returns the index of `}` and the
/// quoted metric name found inside, if any.
fn scan_prom_labels(line: &[u8], mut i: usize) -> Result<(usize, Option<LabelStr<'_>>), LineError> {
    let n = line.len();
    let mut qname = None;
    loop {
        i = skip_ws(line, i);
        if i >= n {
            return Err(LineError::new(i, "a label name or '}'"));
        }
        let c = line[i];
        if c == b'}' {
            return Ok((i, qname));
        }
        let start = i;
        let quoted = if class(c) & LNAME_START != 0 {
            i = scan_class(line, i + 1, LNAME_CONT);
            false
        } else if c == b'"' {
            i = scan_quoted(line, i)?;
            true
        } else {
            return Err(LineError::new(i, "a label name"));
        };
        let end = i;
        i = skip_ws(line, i);
        if quoted && i < n && (line[i] == b',' || line[i] == b'}') {
            if qname.is_some() {
                return Err(second_name(start));
            }
            qname = Some(LabelStr::quoted(&line[start + 1..end - 1]));
            if line[i] == b',' {
                i += 1;
            }
            continue;
        }
        if i >= n || line[i] != b'=' {
            return Err(LineError::new(i, "'=' after the label name"));
        }
        i = skip_ws(line, i + 1);
        if i >= n || line[i] != b'"' {
            return Err(LineError::new(i, "a quoted label value"));
        }
        i = scan_quoted(line, i)?;
        i = skip_ws(line, i);
        if i < n && line[i] == b',' {
            i += 1;
        }
    }
}

/// The error for a sample that names its metric twice (before the braces
/// and quoted inside them, or quoted twice).
fn second_name(col: usize) -> LineError {
    LineError::found(col, "one metric name", "a second metric name")
}

fn parse_prom_comment(line: &[u8], hash: usize) -> Result<Entry<'_>, LineError> {
    let n = line.len();
    let j = hash + 1;
    if j >= n || !is_ws(line[j]) {
        return Ok(Entry::Comment(&line[hash..]));
    }
    let k = skip_ws(line, j);
    let rest = &line[k..];
    let is_type = if rest.starts_with(b"HELP") && rest.len() > 4 && is_ws(rest[4]) {
        false
    } else if rest.starts_with(b"TYPE") && rest.len() > 4 && is_ws(rest[4]) {
        true
    } else {
        return Ok(Entry::Comment(&line[hash..]));
    };
    let m = skip_ws(line, k + 4);
    let (name, e) = meta_name(line, m)?;
    let after = &line[e..];
    let text: &[u8] = if after.len() > 1 { &after[1..] } else { &[] };
    if is_type {
        let kind = MetricType::from_prom(text).ok_or(LineError::new(
            e + 1,
            "a metric type (counter, gauge, histogram, summary or untyped)",
        ))?;
        Ok(Entry::Type { name, kind })
    } else {
        if !text.is_ascii() && std::str::from_utf8(text).is_err() {
            return Err(LineError::found(e + 1, "UTF-8 help text", "invalid UTF-8"));
        }
        Ok(Entry::Help { name, text })
    }
}

fn meta_name(line: &[u8], m: usize) -> Result<(LabelStr<'_>, usize), LineError> {
    match line.get(m) {
        Some(&c) if class(c) & NAME_START != 0 => {
            let e = scan_class(line, m + 1, NAME_CONT);
            Ok((LabelStr::bare(&line[m..e]), e))
        }
        Some(b'"') => {
            let e = scan_quoted(line, m)?;
            Ok((LabelStr::quoted(&line[m + 1..e - 1]), e))
        }
        _ => Err(LineError::new(m, "a metric name")),
    }
}

/// Parses one line of OpenMetrics text. `terminated` says whether the line
/// ended with `\n` (only the last line of a body can lack it).
pub(crate) fn parse_om(line: &[u8], terminated: bool) -> Result<Entry<'_>, LineError> {
    let n = line.len();
    if n == 0 {
        return Err(LineError::new(
            0,
            "a metric name or '#' (OpenMetrics has no blank lines)",
        ));
    }
    let c = line[0];
    if c == b'#' {
        if n < 2 || line[1] != b' ' {
            return Err(LineError::new(1, "' ' after '#'"));
        }
        let rest = &line[2..];
        let kw = rest.get(..5);
        let kind = match kw {
            Some(b"HELP ") => 0,
            Some(b"TYPE ") => 1,
            Some(b"UNIT ") => 2,
            _ if rest.starts_with(b"EOF") => {
                if n > 5 {
                    return Err(LineError::new(5, "nothing after # EOF"));
                }
                return Ok(Entry::Eof);
            }
            _ => return Err(LineError::new(2, "HELP, TYPE, UNIT or EOF after '# '")),
        };
        let (name, e) = meta_name(line, 7)?;
        if e >= n || line[e] != b' ' {
            return Err(LineError::new(e, "' ' and text after the metric name"));
        }
        if !terminated {
            return Err(LineError::found(
                n,
                "a line break",
                "end of data (no # EOF)",
            ));
        }
        let text = &line[e + 1..];
        return match kind {
            0 => {
                if !text.is_ascii() && std::str::from_utf8(text).is_err() {
                    return Err(LineError::found(e + 1, "UTF-8 help text", "invalid UTF-8"));
                }
                Ok(Entry::Help { name, text })
            }
            1 => {
                let kind = MetricType::from_om(text).ok_or(LineError::new(
                    e + 1,
                    "a metric type (counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown)",
                ))?;
                Ok(Entry::Type { name, kind })
            }
            _ => {
                let m = name.raw();
                let is_suffix = m.len() > text.len()
                    && m.ends_with(text)
                    && m[m.len() - text.len() - 1] == b'_';
                if !text.is_empty() && !is_suffix {
                    return Err(LineError::new(
                        e + 1,
                        "a unit that is a suffix of the metric name",
                    ));
                }
                Ok(Entry::Unit { name, unit: text })
            }
        };
    }
    let (mut name, mut i) = if class(c) & NAME_START != 0 {
        let e = scan_class(line, 1, NAME_CONT);
        (Some(LabelStr::bare(&line[..e])), e)
    } else if c == b'{' {
        (None, 0)
    } else {
        return Err(LineError::new(0, "a metric name or '#'"));
    };
    let mut labels_raw: &[u8] = &[];
    if i < n && line[i] == b'{' {
        let (close, qname) = scan_om_labels(line, i + 1, false)?;
        if let Some(q) = qname {
            if name.is_some() {
                return Err(second_name(i));
            }
            name = Some(q);
        }
        labels_raw = &line[i + 1..close];
        i = close + 1;
    }
    let Some(name) = name else {
        return Err(LineError::found(
            i,
            "a quoted metric name in the braces",
            "none",
        ));
    };
    let (value_raw, mut i) = om_token(line, i, "' ' and a value")?;
    if !go_float_ok(value_raw) {
        return Err(LineError::new(i - value_raw.len(), "a float value"));
    }
    let mut timestamp_raw = None;
    let mut exemplar = None;
    if i < n && !line[i..].starts_with(b" # {") {
        let (ts, j) = om_token(line, i, "' ' and a timestamp")?;
        om_timestamp(ts, j - ts.len())?;
        timestamp_raw = Some(ts);
        i = j;
    }
    if i < n {
        if !line[i..].starts_with(b" # {") {
            return Err(LineError::new(i, "end of line or ' # {' (exemplar)"));
        }
        let labels_col = i + 4;
        let (close, _) = scan_om_labels(line, labels_col, true)?;
        let (ev, j) = om_token(line, close + 1, "' ' and an exemplar value")?;
        if !go_float_ok(ev) {
            return Err(LineError::new(j - ev.len(), "a float exemplar value"));
        }
        let mut ets = None;
        let mut j = j;
        if j < n {
            let (t, k) = om_token(line, j, "' ' and an exemplar timestamp")?;
            om_timestamp(t, k - t.len())?;
            ets = Some(t);
            j = k;
        }
        if j < n {
            return Err(LineError::new(j, "end of line after the exemplar"));
        }
        exemplar = Some(Exemplar {
            labels_raw: &line[labels_col..close],
            value_raw: ev,
            timestamp_raw: ets,
            col: i + 1,
            labels_col,
        });
    }
    if !terminated {
        return Err(LineError::found(
            n,
            "a line break",
            "end of data (no # EOF)",
        ));
    }
    Ok(Entry::Sample(Sample {
        name,
        labels_raw,
        value_raw,
        timestamp_raw,
        exemplar,
        om: true,
    }))
}

/// `{S}[^ \n]+`: a single space then a non-empty token.
fn om_token<'a>(
    line: &'a [u8],
    i: usize,
    expected: &'static str,
) -> Result<(&'a [u8], usize), LineError> {
    if i >= line.len() || line[i] != b' ' {
        return Err(LineError::new(i, expected));
    }
    let s = i + 1;
    let mut e = s;
    while e < line.len() && line[e] != b' ' {
        e += 1;
    }
    if e == s {
        return Err(LineError::new(s, expected));
    }
    Ok((&line[s..e], e))
}

fn om_timestamp(ts: &[u8], col: usize) -> Result<(), LineError> {
    match parse_go_float(ts) {
        Some(v) if v.is_finite() => Ok(()),
        Some(_) => Err(LineError::new(col, "a finite timestamp")),
        None => Err(LineError::new(col, "a float timestamp")),
    }
}

/// OpenMetrics label set after `{` (strict: no spaces, commas between pairs,
/// no trailing comma). Exemplar label sets cannot carry a metric name.
fn scan_om_labels(
    line: &[u8],
    mut i: usize,
    exemplar: bool,
) -> Result<(usize, Option<LabelStr<'_>>), LineError> {
    let n = line.len();
    let mut qname = None;
    let mut first = true;
    loop {
        if i >= n {
            return Err(LineError::new(i, "a label name or '}'"));
        }
        if first && line[i] == b'}' {
            return Ok((i, qname));
        }
        if !first {
            match line[i] {
                b'}' => return Ok((i, qname)),
                b',' => i += 1,
                _ => return Err(LineError::new(i, "',' or '}'")),
            }
        }
        first = false;
        let start = i;
        let c = line.get(i).copied().unwrap_or(b'\n');
        let quoted = if class(c) & LNAME_START != 0 {
            i = scan_class(line, i + 1, LNAME_CONT);
            false
        } else if c == b'"' {
            i = scan_quoted(line, i)?;
            true
        } else {
            return Err(LineError::new(i, "a label name"));
        };
        if quoted && i < n && (line[i] == b',' || line[i] == b'}') {
            if exemplar {
                return Err(LineError::new(
                    start,
                    "a label name (exemplars carry no metric name)",
                ));
            }
            if qname.is_some() {
                return Err(second_name(start));
            }
            qname = Some(LabelStr::quoted(&line[start + 1..i - 1]));
            continue;
        }
        if i >= n || line[i] != b'=' {
            return Err(LineError::new(i, "'=' after the label name"));
        }
        i += 1;
        if i >= n || line[i] != b'"' {
            return Err(LineError::new(i, "a quoted label value"));
        }
        i = scan_quoted(line, i)?;
    }
}

// The counting fast path.
//
// Counting needs only whether a line is a sample Prometheus accepts and its
// metric name. These functions accept the common strict shape
// (`name{label="value",...} value [timestamp]`, bare names, no escapes, no
// non-ASCII, single spaces) and return `None` for anything else, which the
// caller then gives to the full line parser. So they may refuse a valid
// line, but must never accept a line the full parser rejects, nor report a
// different name: the tests check exactly that.

/// Length of the common prefix of `a` and `b`, up to `limit`, a word at a
/// time.
#[inline(always)]
fn common_prefix(a: &[u8], b: &[u8], limit: usize) -> usize {
    let n = limit.min(a.len()).min(b.len());
    let mut k = 0;
    while k + 8 <= n {
        if let (Some(x), Some(y)) = (word_at(a, k), word_at(b, k))
            && x != y
        {
            return k + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    if n >= 8 {
        // The last word overlaps the previous one rather than going bytewise;
        // its bytes before `k` are equal, so its first difference is not.
        if let (Some(x), Some(y)) = (word_at(a, n - 8), word_at(b, n - 8))
            && x != y
        {
            return n - 8 + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        return n;
    }
    while k < n && a[k] == b[k] {
        k += 1;
    }
    k
}

/// The previous line when the fast path accepted it, so that the next line
/// can skip the prefix they share: consecutive samples usually share their
/// name, histogram buckets all their labels but `le`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QuickPrev<'a> {
    line: &'a [u8],
    /// End of the bare metric name.
    name_end: usize,
    /// Where the last label pair starts (after a `,`), or 0. The parse
    /// state there depends only on the bytes before it, so a line with the
    /// same bytes up to it resumes there.
    resume: usize,
}

impl<'a> QuickPrev<'a> {
    /// The metric name.
    pub(crate) fn name(&self) -> &'a [u8] {
        &self.line[..self.name_end]
    }
}

/// High bit set in each byte of `x` that is not `[a-zA-Z0-9_]` (exact per
/// byte: the sums below never carry across bytes, since non-ASCII bytes are
/// masked off first and flagged on their own).
#[inline(always)]
fn non_label_name_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let a = x & LOW7;
    // Letters: with bit 5 set, both cases fall in 'a'..='z'.
    let l = a | (LO * 0x20);
    let letter = l.wrapping_add(LO * (0x80 - u64::from(b'a')))
        & !l.wrapping_add(LO * (0x80 - u64::from(b'z') - 1));
    let digit = a.wrapping_add(LO * (0x80 - u64::from(b'0')))
        & !a.wrapping_add(LO * (0x80 - u64::from(b'9') - 1));
    let u = a ^ (LO * u64::from(b'_'));
    let underscore = !u.wrapping_add(LOW7);
    !((letter | digit | underscore) & !x) & HI
}

/// End of the label name whose first byte (already checked) is at `i - 1`.
#[inline(always)]
pub(crate) fn label_name_end(line: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(line, i) {
        let m = non_label_name_bytes(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    scan_class(line, i, LNAME_CONT)
}

/// Index past the closing quote of the quoted string opened at `i`, if it
/// has no backslash and no non-ASCII byte (which need the full scanner).
#[inline(always)]
fn quick_quoted_end(line: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while let Some(w) = word_at(line, j) {
        let m = special_bytes(w);
        if m != 0 {
            j += (m.trailing_zeros() / 8) as usize;
            return (line[j] == b'"').then_some(j + 1);
        }
        j += 8;
    }
    while j < line.len() {
        match line[j] {
            b'"' => return Some(j + 1),
            b'\\' | 0x80..=0xff => return None,
            _ => j += 1,
        }
    }
    None
}

/// Label pairs after `{` in the strict shape (`name="value"` joined by
/// single commas, no blanks): the index of the closing `}` and where the
/// last pair after a comma starts (0 if none). A trailing comma is allowed
/// only when `trailing_comma` (the text format allows it, OpenMetrics does
/// not).
#[inline(always)]
fn quick_labels(line: &[u8], i: usize, trailing_comma: bool) -> Option<(usize, usize)> {
    if *line.get(i)? == b'}' {
        return Some((i, 0));
    }
    quick_label_pairs(line, i, trailing_comma, 0)
}

/// [`quick_labels`] from the start of a pair at `i` (the start of the set,
/// or just after a comma).
#[inline(always)]
fn quick_label_pairs(
    line: &[u8],
    mut i: usize,
    trailing_comma: bool,
    mut last: usize,
) -> Option<(usize, usize)> {
    loop {
        if class(*line.get(i)?) & LNAME_START == 0 {
            return if trailing_comma && line[i] == b'}' {
                Some((i, last))
            } else {
                None
            };
        }
        i = label_name_end(line, i + 1);
        if line.get(i..i + 2)? != b"=\"" {
            return None;
        }
        i = quick_quoted_end(line, i + 1)?;
        match *line.get(i)? {
            b',' => {
                i += 1;
                last = i;
            }
            b'}' => return Some((i, last)),
            _ => return None,
        }
    }
}

/// End of the space-free token at `i` if it is a float Prometheus accepts.
/// Plain decimals (`0`, `123.5`) are checked in the same pass that finds
/// the token's end; anything else goes through [`go_float_ok`].
#[inline(always)]
fn quick_float_end(line: &[u8], i: usize) -> Option<usize> {
    let n = line.len();
    let mut j = i;
    let mut dots = 0usize;
    while j < n {
        match line[j] {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => break,
        }
        j += 1;
    }
    let len = j - i;
    // Up to 300 integer digits cannot overflow, so syntax is enough.
    if (j == n || line[j] == b' ') && dots <= 1 && len > dots && len <= 300 {
        return Some(j);
    }
    while j < n && line[j] != b' ' {
        j += 1;
    }
    (j > i && go_float_ok(&line[i..j])).then_some(j)
}

/// The name and label set of a sample line in the strict shape, resuming
/// after the prefix shared with `prev`: the new [`QuickPrev`], whether the
/// name is `prev`'s, and the index after the label set (or the name).
#[inline(always)]
fn quick_head<'a>(
    line: &'a [u8],
    prev: &QuickPrev<'_>,
    trailing_comma: bool,
) -> Option<(QuickPrev<'a>, bool, usize)> {
    let shared = if prev.line.is_empty() {
        0
    } else {
        common_prefix(line, prev.line, prev.resume.max(prev.name_end + 1))
    };
    if prev.resume > 0 && shared >= prev.resume {
        let (close, resume) = quick_label_pairs(line, prev.resume, trailing_comma, prev.resume)?;
        let next = QuickPrev {
            line,
            name_end: prev.name_end,
            resume,
        };
        return Some((next, true, close + 1));
    }
    // The byte after `prev`'s name is not a name byte: equal up to it, the
    // names are equal.
    let same = shared > prev.name_end && !prev.line.is_empty();
    let name_end = if same {
        prev.name_end
    } else {
        if class(*line.first()?) & NAME_START == 0 {
            return None;
        }
        scan_class(line, 1, NAME_CONT)
    };
    let mut next = QuickPrev {
        line,
        name_end,
        resume: 0,
    };
    let mut i = name_end;
    if line.get(i) == Some(&b'{') {
        let (close, resume) = quick_labels(line, i + 1, trailing_comma)?;
        next.resume = resume;
        i = close + 1;
    }
    Some((next, same, i))
}

/// Counting fast path for a Prometheus text line: when the line is a
/// sample [`parse_prom`] accepts with a bare metric name, that name's end
/// (in the returned [`QuickPrev`]) and whether it is `prev`'s name. `None`
/// means: ask [`parse_prom`].
#[inline]
pub(crate) fn quick_prom_sample<'a>(
    line: &'a [u8],
    prev: &QuickPrev<'_>,
) -> Option<(QuickPrev<'a>, bool)> {
    let (next, same, mut i) = quick_head(line, prev, true)?;
    if *line.get(i)? != b' ' {
        return None;
    }
    i = quick_float_end(line, i + 1)?;
    if i < line.len() {
        // ' ' and an int64 millisecond timestamp: 18 digits always fit.
        let ts = i + 1;
        let mut j = ts;
        while j < line.len() && line[j].is_ascii_digit() {
            j += 1;
        }
        if j != line.len() || j == ts || j - ts > 18 {
            return None;
        }
    }
    Some((next, same))
}

/// End of the token at `i` if it is a finite float: an OpenMetrics
/// timestamp.
#[inline(always)]
fn quick_om_timestamp_end(line: &[u8], i: usize) -> Option<usize> {
    let j = quick_float_end(line, i)?;
    // An accepted float is infinite or NaN only when spelled out (`Inf`,
    // `infinity`, `NaN`); decimals end in a digit or a dot.
    matches!(line[j - 1], b'0'..=b'9' | b'.').then_some(j)
}

/// Counting fast path for an OpenMetrics line that ended with `\n`: as
/// [`quick_prom_sample`], for what [`parse_om`] accepts (exemplars
/// included).
#[inline]
pub(crate) fn quick_om_sample<'a>(
    line: &'a [u8],
    prev: &QuickPrev<'_>,
) -> Option<(QuickPrev<'a>, bool)> {
    let (next, same, mut i) = quick_head(line, prev, false)?;
    let n = line.len();
    if *line.get(i)? != b' ' {
        return None;
    }
    i = quick_float_end(line, i + 1)?;
    if i == n {
        return Some((next, same));
    }
    if !line[i..].starts_with(b" # {") {
        i = quick_om_timestamp_end(line, i + 1)?;
        if i == n {
            return Some((next, same));
        }
        if !line[i..].starts_with(b" # {") {
            return None;
        }
    }
    // The exemplar: `# {labels} value [timestamp]`.
    i = quick_labels(line, i + 4, false)?.0 + 1;
    if *line.get(i)? != b' ' {
        return None;
    }
    i = quick_float_end(line, i + 1)?;
    if i < n {
        i = quick_om_timestamp_end(line, i + 1)?;
    }
    (i == n).then_some((next, same))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(e: Entry<'_>) -> Sample<'_> {
        match e {
            Entry::Sample(s) => s,
            other => panic!("not a sample: {other:?}"),
        }
    }

    #[test]
    fn prom_lines() {
        let s = sample(parse_prom(br#"foo{a="1",b="x\"y"} 1.5 123"#).unwrap());
        assert_eq!(s.name.raw(), b"foo");
        let labels: Vec<_> = s
            .labels()
            .map(|(k, v)| (k.to_str().into_owned(), v.to_str().into_owned()))
            .collect();
        assert_eq!(
            labels,
            vec![("a".into(), "1".into()), ("b".into(), "x\"y".into())]
        );
        assert_eq!(s.timestamp_ms(), Some(123));
        assert!(parse_prom(b"  foo  {  a = \"1\"   b=\"2\" , }  1  ").is_ok());
        assert!(matches!(parse_prom(b"").unwrap(), Entry::Blank));
        assert!(matches!(
            parse_prom(b"# TYPE foo counter").unwrap(),
            Entry::Type {
                kind: MetricType::Counter,
                ..
            }
        ));
        assert!(parse_prom(b"# TYPE foo  counter").is_err());
        assert!(matches!(
            parse_prom(b"#TYPE foo bar").unwrap(),
            Entry::Comment(_)
        ));
        assert!(parse_prom(b"foo").is_err());
        assert!(parse_prom(b"foo 1 2 3").is_err());
        assert!(parse_prom(b"foo 1e400").is_err());
        assert!(parse_prom(b"foo{,a=\"1\"} 1").is_err());
        let q = sample(parse_prom(br#"{"my.metric", "label.name"="v"} 2"#).unwrap());
        assert_eq!(q.metric_name(), "my.metric");
        let labels: Vec<_> = q
            .labels()
            .map(|(k, v)| (k.to_str().into_owned(), v.to_str().into_owned()))
            .collect();
        assert_eq!(labels, vec![("label.name".into(), "v".into())]);
    }

    /// Lines in and around the counting fast path's shape.
    const QUICK_SEEDS: &[&str] = &[
        r#"http_request_duration_seconds_bucket{code="200",handler="/api/v1/x",le="0.005"} 14806"#,
        r#"http_request_duration_seconds_bucket{le="+Inf"} 1e+06 1700000000000"#,
        r#"http_request_duration_seconds_count 5"#,
        r#"up{job="a",} 1"#,
        r#"up{} -Inf"#,
        r#"node_load1 0.25 123"#,
        r#"container_memory_usage_bytes{id="/kubepods.slice/kubepods-burstable.slice/cri-containerd-7765776f6c076ee1bb3624be9aefb47f93a26bd5ff5266fed994b90dd3ad9fa6.scope"} 1.5e3"#,
        r#"foo_total{a="1"} 1 1.5 # {trace_id="x",span_id="y"} 2 3"#,
        r#"foo_bucket{le="0.5"} 7 # {trace_id="1072f8cfa2ee888e"} 0.0045 1700000000.000"#,
        r#"foo_created 1690000000"#,
        r#"foo{a="é"} 1"#,
        r#"foo{a="x\"y"} NaN"#,
        r#"{"my.metric", "label.name"="v"} 2"#,
        r#"foo 1 # {} 1"#,
    ];

    /// Bytes that matter to the grammar, for mutations.
    const QUICK_BYTES: &[u8] = b" \t{}=\",#\\.0123456789eE+-_:aZInf\x00\xc3\xa9\xff";

    /// Whether the counting fast path agrees with the full parser on `line`
    /// after `prev_line`: it may decline, but what it accepts the full parser
    /// accepts, with the same name; resuming after the prefix shared with
    /// the previous line decides as a parse from scratch does.
    fn check_quick(line: &[u8], prev_line: &[u8], om: bool) {
        let quick = |l, p: &QuickPrev<'_>| {
            if om {
                quick_om_sample(l, p)
            } else {
                quick_prom_sample(l, p)
            }
        };
        let prev =
            quick(prev_line, &QuickPrev::default()).map_or_else(QuickPrev::default, |(p, _)| p);
        let ctx = format!(
            "{:?} after {:?} (om: {om})",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(prev_line)
        );
        let scratch = quick(line, &QuickPrev::default());
        let resumed = quick(line, &prev);
        assert_eq!(
            scratch.map(|(q, _)| q.name()),
            resumed.map(|(q, _)| q.name()),
            "{ctx}"
        );
        let Some((next, same)) = resumed else { return };
        let full = if om {
            parse_om(line, true)
        } else {
            parse_prom(line)
        };
        let s = match full {
            Ok(Entry::Sample(s)) => s,
            other => panic!("fast path accepted {ctx}, full parser: {other:?}"),
        };
        assert_eq!(s.name.raw(), next.name(), "{ctx}");
        assert!(!s.name.needs_unescape(), "{ctx}");
        if same {
            assert_eq!(next.name(), prev.name(), "{ctx}");
            assert!(!prev.line.is_empty(), "{ctx}");
        }
    }

    fn mutate(seed: &[u8], next: &mut impl FnMut(usize) -> usize) -> Vec<u8> {
        let mut line = seed.to_vec();
        for _ in 0..1 + next(3) {
            let at = next(line.len() + 1);
            let b = QUICK_BYTES[next(QUICK_BYTES.len())];
            match next(3) {
                0 if at < line.len() => line[at] = b,
                1 if at < line.len() => {
                    line.remove(at);
                }
                _ => line.insert(at, b),
            }
        }
        line
    }

    #[test]
    fn quick_path_never_accepts_what_the_full_parser_rejects() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |m: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % m as u64).unwrap()
        };
        let mut accepted = 0;
        let mut resumed = 0;
        for seed in QUICK_SEEDS {
            let seed = seed.as_bytes();
            for om in [false, true] {
                for prev in QUICK_SEEDS {
                    check_quick(seed, prev.as_bytes(), om);
                }
            }
            let p = quick_prom_sample(seed, &QuickPrev::default());
            accepted += usize::from(p.is_some());
            if let Some((p, _)) = p {
                resumed += usize::from(p.resume > 0);
            }
            for _ in 0..20_000 {
                let line = mutate(seed, &mut next);
                // The previous line: the seed, another mutation of it, or a
                // line sharing a prefix with it.
                let prev = match next(3) {
                    0 => seed.to_vec(),
                    1 => mutate(seed, &mut next),
                    _ => {
                        let mut p = line[..next(line.len() + 1)].to_vec();
                        p.extend_from_slice(&seed[next(seed.len() + 1)..]);
                        p
                    }
                };
                check_quick(&line, &prev, false);
                check_quick(&line, &prev, true);
            }
        }
        let long_int = "9".repeat(300);
        let too_long_int = "9".repeat(310);
        for edge in [
            "foo 1 9223372036854775807".to_string(),
            "foo 1 9223372036854775808".to_string(),
            "foo 1 999999999999999999".to_string(),
            format!("foo {long_int}"),
            format!("foo {too_long_int}"),
            format!("foo {long_int}.5 1"),
            format!("foo 1 {too_long_int}"),
            format!("foo 1 1{too_long_int}.0"),
            format!("foo 1 # {{a=\"b\"}} 1 {too_long_int}"),
            "foo 1 Inf".to_string(),
            "foo 1 # {a=\"b\"} 1 NaN".to_string(),
            "foo 1 1e5".to_string(),
            "foo .".to_string(),
            "foo 1.2.3".to_string(),
        ] {
            for prev in ["", "foo 1", "fo 1", "foo{a=\"b\",c=\"d\"} 1"] {
                check_quick(edge.as_bytes(), prev.as_bytes(), false);
                check_quick(edge.as_bytes(), prev.as_bytes(), true);
            }
        }
        // The seeds in the common shape do take the fast path, some with a
        // point to resume at.
        assert!(accepted >= 8, "{accepted}");
        assert!(resumed >= 2, "{resumed}");
    }

    #[test]
    fn label_name_bytes_word_matches_the_class_table() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = [b'a'; 8];
                w[at] = b;
                // Neighbours that could borrow or carry into the byte.
                for fill in [
                    b'a', b'_', b'0', b'9', b'z', b'Z', 0x80, 0xff, 0, b'`', b'{',
                ] {
                    for (k, slot) in w.iter_mut().enumerate() {
                        if k != at {
                            *slot = fill;
                        }
                    }
                    let m = non_label_name_bytes(u64::from_le_bytes(w));
                    for (k, &c) in w.iter().enumerate() {
                        let flagged = m >> (k * 8 + 7) & 1 == 1;
                        assert_eq!(flagged, class(c) & LNAME_CONT == 0, "{w:?} byte {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn om_lines() {
        let s = sample(parse_om(br#"foo_total{a="1"} 1 1.5 # {trace_id="x"} 2 3"#, true).unwrap());
        assert_eq!(s.timestamp_ms(), Some(1500));
        assert!(s.exemplar.is_some());
        assert!(parse_om(b"foo  1", true).is_err());
        assert!(parse_om(b"foo{a=\"1\",} 1", true).is_err());
        assert!(parse_om(b"", true).is_err());
        assert!(matches!(parse_om(b"# EOF", false).unwrap(), Entry::Eof));
        assert!(parse_om(b"foo 1", false).is_err());
        assert!(parse_om(b"# UNIT foo_seconds seconds", true).is_ok());
        assert!(parse_om(b"# UNIT foo seconds", true).is_err());
    }
}
