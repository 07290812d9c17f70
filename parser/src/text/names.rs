//! Names and label values as they are written: [`LabelStr`] (the bytes of a
//! bare name, or between the quotes of a quoted string, escapes not yet
//! resolved), scanning and validating quoted strings, unescaping them, and
//! reading the metric name of a metadata line.
//!
//! Escapes are resolved only when asked ([`LabelStr::to_str`]): counting
//! never needs them, and most values have none. A quoted string is
//! validated once, when its line is parsed ([`scan_quoted`]); iterating
//! the labels later re-reads it without checks ([`quoted_str`]).

use std::borrow::Cow;

use super::bytes::{NAME_CONT, NAME_START, class, scan_class, special_bytes, word_at};
use crate::error::LineError;

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

/// Scans and validates a quoted string at `i` (which must be `"`): returns
/// the index past the closing quote.
///
/// Eight bytes at a time: one word test finds the next quote, backslash or
/// non-ASCII byte, so plain ASCII values cost about one step per word and the
/// UTF-8 check runs only for values that have non-ASCII bytes.
#[inline]
pub(super) fn scan_quoted(line: &[u8], i: usize) -> Result<usize, LineError> {
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

/// The error for a sample that names its metric twice (before the braces
/// and quoted inside them, or quoted twice).
pub(super) fn second_name(col: usize) -> LineError {
    LineError::found(col, "one metric name", "a second metric name")
}

pub(super) fn meta_name(line: &[u8], m: usize) -> Result<(LabelStr<'_>, usize), LineError> {
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
