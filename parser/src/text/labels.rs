//! Iterating the label pairs of a parsed label set ([`Labels`]), and telling
//! the text format's lenient separators from the strict ones.
//!
//! The label set was validated when its line was parsed, so iteration
//! cannot fail and does not re-check: it skips separators, reads a name
//! (bare or quoted) and a quoted value, and steps over a quoted metric
//! name inside the braces. The same code serves both formats; only the
//! tests' validators ask whether the separators were lenient.

use super::bytes::{LNAME_CONT, scan_class, skip_ws};
use super::names::{LabelStr, quoted_str};

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
