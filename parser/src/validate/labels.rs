//! A sample's labels as the validator reads them, in one pass over the
//! label text the line parser accepted: each pair's name and value (spans
//! of the text, or of a buffer when escapes had to be resolved), a hash per
//! pair, and what the checks ask about (names in increasing order, `le`,
//! `quantile`, reserved names).

use std::cmp::Ordering;

use super::keys::{hash_bytes, pair_seed, same_bytes};
use crate::text::{LabelStr, label_name_end, quoted_str, separator_is_strict};

/// Bytes of the label text, or of [`LabelSet::arena`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    in_arena: bool,
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    /// The first 8 bytes of the name, big-endian, zero-padded: most name
    /// comparisons end here.
    prefix: u64,
    name: Span,
    value: Span,
    /// Where the pair's text starts (its name, or the quote before it) and
    /// ends (after the value's closing quote) in the label text.
    start: usize,
    end: usize,
    /// The pair's hash. `after.sum` less the sum before would give it, but
    /// reading label sets took more instructions without it.
    hash: u64,
    /// The set's state once this pair was added.
    after: State,
}

/// What a [`LabelSet`] knows of its pairs so far.
#[derive(Debug, Clone, Copy)]
struct State {
    /// The sum of the pairs' hashes: the same whatever their order.
    sum: u64,
    /// Whether every name is greater than the one before (so none repeats).
    increasing: bool,
    /// Whether a name appears twice (looked for only among pairs out of
    /// order).
    repeated: bool,
    /// Whether a name starts with `__`.
    reserved: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            sum: 0,
            increasing: true,
            repeated: false,
            reserved: false,
        }
    }
}

/// The labels of one sample (reused from sample to sample: nothing is
/// allocated once the buffers have grown).
#[derive(Debug, Default)]
pub(super) struct LabelSet {
    arena: Vec<u8>,
    pairs: Vec<Pair>,
    state: State,
    /// The pairs named `le` and `quantile` (the first, if repeated).
    pub(super) le: Option<usize>,
    pub(super) quantile: Option<usize>,
    /// Whether the text used the text format's leniency (blanks around
    /// names, `=` and commas; missing or doubled commas).
    pub(super) lenient: bool,
    /// Whether a name in the braces was written quoted (a label name, or
    /// the metric name of a Prometheus 3 line).
    pub(super) quoted: bool,
    /// Scratch indices for ordering the pairs without moving them.
    order: Vec<u32>,
    /// The last label text read in the plain shape (`prev_plain`), whose
    /// pairs are still in `pairs`: a text that starts the same way keeps
    /// the pairs of its common start (a histogram's buckets differ only in
    /// their last pair, `le`).
    prev: Vec<u8>,
    prev_plain: bool,
    /// A pair written `name="value"` unescaped, to be hashed.
    pair_text: Vec<u8>,
}

/// Length of the common start of `a` and `b`, a word at a time.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut k = 0;
    while let (Some(x), Some(y)) = (a.get(k..k + 8), b.get(k..k + 8)) {
        if x != y {
            break;
        }
        k += 8;
    }
    while k < n && a[k] == b[k] {
        k += 1;
    }
    k
}

#[inline(always)]
fn skip_blanks(raw: &[u8], mut i: usize) -> usize {
    while i < raw.len() && matches!(raw[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

#[inline(always)]
fn span_bytes<'s>(arena: &'s [u8], raw: &'s [u8], s: Span) -> &'s [u8] {
    let b = if s.in_arena { arena } else { raw };
    &b[s.start..s.end]
}

/// The first 8 bytes of the name at `name`, big-endian, zero-padded: one
/// load when 8 bytes follow the name's start (a label text's names do, but
/// for the last few bytes).
#[inline(always)]
fn name_prefix(raw: &[u8], name: Span, bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let mut head = [0u8; 8];
    if !name.in_arena
        && let Some(w) = raw.get(name.start..name.start + 8)
    {
        head.copy_from_slice(w);
        let v = u64::from_be_bytes(head);
        return if len >= 8 {
            v
        } else {
            v & !(u64::MAX >> (len * 8))
        };
    }
    for (h, &b) in head.iter_mut().zip(bytes) {
        *h = b;
    }
    u64::from_be_bytes(head)
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Index of the first `"` at or after `i`, if no backslash comes first
/// (eight bytes per step).
#[inline(always)]
fn next_quote(raw: &[u8], mut i: usize) -> Option<usize> {
    while let Some(w) = raw.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_le_bytes(a);
        let q = x ^ (LO * u64::from(b'"'));
        let bs = x ^ (LO * u64::from(b'\\'));
        // Exact for the lowest flagged byte, which is all that is used.
        let m = ((q.wrapping_sub(LO) & !q) | (bs.wrapping_sub(LO) & !bs)) & HI;
        if m != 0 {
            let j = i + (m.trailing_zeros() / 8) as usize;
            return (raw[j] == b'"').then_some(j);
        }
        i += 8;
    }
    while let Some(&c) = raw.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' => return None,
            _ => i += 1,
        }
    }
    None
}

/// The pair in the plain shape (see [`LabelSet::read`]) that starts at
/// `i`: where its `=` and its value's closing quote are. `None` when the
/// text there is not in that shape.
#[inline(always)]
fn plain_pair(raw: &[u8], i: usize) -> Option<(usize, usize)> {
    let c = *raw.get(i)?;
    if !(c.is_ascii_alphabetic() || c == b'_') {
        return None;
    }
    // The parser accepted the text, so a bare name runs up to the `=`
    // before the first quote, when no blank comes between.
    let open = next_quote(raw, i + 1)?;
    let name_end = open - 1;
    if raw[name_end] != b'=' || matches!(raw[name_end - 1], b' ' | b'\t') {
        return None;
    }
    let close = next_quote(raw, open + 1)?;
    Some((name_end, close))
}

impl LabelSet {
    /// Reads the label text `raw` (between the braces of a line the parser
    /// accepted) with the rules of the parser's label iterator: pairs in
    /// order, quoted metric names skipped, leniency noted.
    #[inline]
    pub(super) fn read(&mut self, raw: &[u8]) {
        let from = self.keep_common_start(raw);
        if self.read_plain(raw, from) {
            self.prev.truncate(from);
            self.prev.extend_from_slice(&raw[from..]);
            self.prev_plain = true;
        } else {
            self.clear();
            self.read_any(raw);
            self.prev_plain = false;
        }
    }

    /// The sum of the pairs' hashes (the same whatever their order).
    #[inline]
    pub(super) fn sum(&self) -> u64 {
        self.state.sum
    }

    fn clear(&mut self) {
        self.arena.clear();
        self.pairs.clear();
        self.state = State::default();
        self.le = None;
        self.quantile = None;
        self.lenient = false;
        self.quoted = false;
    }

    /// Keeps the pairs that `raw` shares with the previous plain text, each
    /// with the comma after it; returns where the rest of `raw` starts.
    #[inline]
    fn keep_common_start(&mut self, raw: &[u8]) -> usize {
        if !self.prev_plain {
            self.clear();
            return 0;
        }
        let common = common_prefix(raw, &self.prev);
        if common == raw.len() && common == self.prev.len() {
            return common;
        }
        // A pair ending before `common` has its comma in the common part.
        let keep = self.pairs.partition_point(|p| p.end < common);
        self.pairs.truncate(keep);
        self.le = self.le.filter(|&i| i < keep);
        self.quantile = self.quantile.filter(|&i| i < keep);
        match self.pairs.last() {
            Some(last) => {
                self.state = last.after;
                last.end + 1
            }
            None => {
                self.clear();
                0
            }
        }
    }

    /// [`read`](Self::read) for label text in the shape exporters write:
    /// `name="value"` pairs with bare names and no backslash, joined by
    /// single commas (a trailing one allowed). `false` when `raw` is not in
    /// that shape (what was read is then to be discarded).
    #[inline]
    fn read_plain(&mut self, raw: &[u8], from: usize) -> bool {
        // The state stays in registers while pairs are added (stored field
        // by field and read back whole, it stalled store forwarding).
        let mut st = self.state;
        let plain = self.read_plain_pairs(raw, from, &mut st);
        self.state = st;
        plain
    }

    #[inline(always)]
    fn read_plain_pairs(&mut self, raw: &[u8], from: usize, st: &mut State) -> bool {
        let mut i = from;
        while i < raw.len() {
            let start = i;
            let Some((name_end, close)) = plain_pair(raw, i) else {
                return false;
            };
            let end = close + 1;
            let name = Span {
                start,
                end: name_end,
                in_arena: false,
            };
            let value = Span {
                start: name_end + 2,
                end: close,
                in_arena: false,
            };
            // The pair's text is already `name="value"`.
            let hash = hash_bytes(&raw[start..end], pair_seed());
            self.add(st, raw, (start, end), name, value, hash);
            match raw.get(end) {
                None => return true,
                Some(b',') => i = end + 1,
                Some(_) => return false,
            }
        }
        true
    }

    /// [`read`](Self::read) for any label text the parser accepts.
    fn read_any(&mut self, raw: &[u8]) {
        let mut pos = 0;
        let mut started = false;
        loop {
            let sep = pos;
            let mut i = sep;
            while i < raw.len() && matches!(raw[i], b' ' | b'\t' | b',') {
                i += 1;
            }
            self.lenient |= !separator_is_strict(raw, started, sep, i);
            if i >= raw.len() {
                return;
            }
            started = true;
            let start = i;
            let (name_at, name) = if raw[i] == b'"' {
                self.quoted = true;
                let Some((end, n)) = quoted_str(raw, i) else {
                    return;
                };
                i = end;
                (start + 1, n)
            } else {
                let end = label_name_end(raw, i + 1);
                let n = LabelStr::bare(&raw[i..end]);
                i = end;
                (start, n)
            };
            let name_end = i;
            i = skip_blanks(raw, i);
            self.lenient |= i != name_end;
            if i >= raw.len() || raw[i] != b'=' {
                // A quoted metric name inside the braces: not a label.
                pos = i;
                continue;
            }
            let eq = i;
            i = skip_blanks(raw, i + 1);
            self.lenient |= i != eq + 1;
            let Some((end, value)) = quoted_str(raw, i) else {
                return;
            };
            pos = end;
            self.push(raw, (start, end), (name_at, name), (i + 1, value));
        }
    }

    fn span(&mut self, at: usize, s: LabelStr<'_>) -> Span {
        if s.needs_unescape() {
            let start = self.arena.len();
            s.unescape_into(&mut self.arena);
            Span {
                start,
                end: self.arena.len(),
                in_arena: true,
            }
        } else {
            Span {
                start: at,
                end: at + s.raw().len(),
                in_arena: false,
            }
        }
    }

    fn push(
        &mut self,
        raw: &[u8],
        (start, end): (usize, usize),
        (name_at, name): (usize, LabelStr<'_>),
        (value_at, value): (usize, LabelStr<'_>),
    ) {
        let name = self.span(name_at, name);
        let value = self.span(value_at, value);
        // Hashed as `name="value"` unescaped, as read_plain hashes a pair.
        let text = &mut self.pair_text;
        text.clear();
        text.extend_from_slice(span_bytes(&self.arena, raw, name));
        text.extend_from_slice(b"=\"");
        text.extend_from_slice(span_bytes(&self.arena, raw, value));
        text.push(b'"');
        let hash = hash_bytes(text, pair_seed());
        let mut st = self.state;
        self.add(&mut st, raw, (start, end), name, value, hash);
        self.state = st;
    }

    #[inline(always)]
    fn add(
        &mut self,
        st: &mut State,
        raw: &[u8],
        (start, end): (usize, usize),
        name: Span,
        value: Span,
        hash: u64,
    ) {
        let name_bytes = span_bytes(&self.arena, raw, name);
        let prefix = name_prefix(raw, name, name_bytes);
        let after_last = self
            .pairs
            .last()
            .is_none_or(|last| match prefix.cmp(&last.prefix) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal => name_bytes > span_bytes(&self.arena, raw, last.name),
            });
        // The prefix holds names of up to 8 bytes whole.
        let reserved = prefix >> 48 == u64::from(u16::from_be_bytes(*b"__"));
        let short = name_bytes.len();
        let is_le = short == 2 && prefix == u64::from_be_bytes(*b"le\0\0\0\0\0\0");
        let is_quantile = short == 8 && prefix == u64::from_be_bytes(*b"quantile");
        let index = self.pairs.len();
        if is_le {
            self.le.get_or_insert(index);
        } else if is_quantile {
            self.quantile.get_or_insert(index);
        }
        // A name above every one before cannot repeat one of them.
        let above_all = st.increasing && after_last;
        if !above_all && !st.repeated {
            st.repeated = self.pairs.iter().any(|p| {
                p.prefix == prefix && same_bytes(span_bytes(&self.arena, raw, p.name), name_bytes)
            });
        }
        st.increasing &= after_last;
        st.reserved |= reserved;
        st.sum = st.sum.wrapping_add(hash);
        self.pairs.push(Pair {
            prefix,
            name,
            value,
            start,
            end,
            hash,
            after: *st,
        });
    }

    #[inline(always)]
    fn bytes<'s>(&'s self, raw: &'s [u8], s: Span) -> &'s [u8] {
        span_bytes(&self.arena, raw, s)
    }

    #[inline]
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn name<'s>(&'s self, raw: &'s [u8], i: usize) -> &'s [u8] {
        self.bytes(raw, self.pairs[i].name)
    }

    pub(super) fn value<'s>(&'s self, raw: &'s [u8], i: usize) -> &'s [u8] {
        self.bytes(raw, self.pairs[i].value)
    }

    #[inline]
    pub(super) fn pair_hash(&self, i: usize) -> u64 {
        self.pairs[i].hash
    }

    /// The value of the label `name`, if there is one.
    pub(super) fn get<'s>(&'s self, raw: &'s [u8], name: &[u8]) -> Option<&'s [u8]> {
        self.position(raw, name).map(|i| self.value(raw, i))
    }

    /// The index of the (first) pair named `name`, if there is one.
    pub(super) fn position(&self, raw: &[u8], name: &[u8]) -> Option<usize> {
        (0..self.len()).find(|&i| same_bytes(self.name(raw, i), name))
    }

    /// Sorts [`order`](Self::order) by name, then value (as a list of
    /// `(String, String)` sorts).
    fn sort_order(&mut self, raw: &[u8]) {
        self.order.clear();
        self.order
            .extend((0..self.pairs.len()).filter_map(|i| u32::try_from(i).ok()));
        let mut order = std::mem::take(&mut self.order);
        order.sort_unstable_by(|&a, &b| {
            let (pa, pb) = (&self.pairs[a as usize], &self.pairs[b as usize]);
            pa.prefix.cmp(&pb.prefix).then_with(|| {
                self.bytes(raw, pa.name)
                    .cmp(self.bytes(raw, pb.name))
                    .then_with(|| self.bytes(raw, pa.value).cmp(self.bytes(raw, pb.value)))
            })
        });
        self.order = order;
    }

    /// The first name in sorted order that appears twice, if one does.
    #[inline]
    pub(super) fn repeated_name(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        if !self.state.repeated {
            return None;
        }
        self.sort_order(raw);
        self.order
            .windows(2)
            .map(|w| (w[0] as usize, w[1] as usize))
            .find(|&(a, b)| {
                self.pairs[a].prefix == self.pairs[b].prefix
                    && same_bytes(self.name(raw, a), self.name(raw, b))
            })
            .map(|(_, b)| self.name(raw, b).to_vec())
    }

    /// The least name starting with `__`, if one does.
    #[inline(always)]
    pub(super) fn reserved_name<'s>(&'s self, raw: &'s [u8]) -> Option<&'s [u8]> {
        if !self.state.reserved {
            return None;
        }
        (0..self.len())
            .map(|i| self.name(raw, i))
            .filter(|name| name.starts_with(b"__"))
            .min()
    }

    /// The bytes of the label text to drop with pair `i`, so that the rest
    /// is still a label text holding the other pairs: the pair and the
    /// separator before it (after it, for the first pair).
    pub(super) fn cut(&self, raw: &[u8], i: usize) -> (usize, usize) {
        let pair = &self.pairs[i];
        match (i.checked_sub(1), self.pairs.get(i + 1)) {
            (Some(before), _) => (self.pairs[before].end, pair.end),
            (None, Some(next)) => (pair.start, next.start),
            (None, None) => (pair.start, raw.len()),
        }
    }

    /// Whether `self` (of text `raw`, without pair `skip`) holds the same
    /// pairs as `other` (of text `other_raw`), in any order.
    pub(super) fn same_pairs(
        &mut self,
        raw: &[u8],
        skip: Option<usize>,
        other: &mut LabelSet,
        other_raw: &[u8],
    ) -> bool {
        if self.len() - usize::from(skip.is_some()) != other.len() {
            return false;
        }
        self.sort_order(raw);
        other.sort_order(other_raw);
        let mine = self
            .order
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| Some(i) != skip);
        mine.zip(other.order.iter().map(|&i| i as usize))
            .all(|(a, b)| {
                same_bytes(self.name(raw, a), other.name(other_raw, b))
                    && same_bytes(self.value(raw, a), other.value(other_raw, b))
            })
    }

    /// The labels in sorted order, written `name="value",...` (values
    /// quoted and escaped as Rust writes strings) for messages.
    pub(super) fn key_text(&mut self, raw: &[u8], skip: Option<usize>) -> String {
        self.sort_order(raw);
        let mut out = String::new();
        for &i in &self.order {
            let i = i as usize;
            if Some(i) == skip {
                continue;
            }
            let name = String::from_utf8_lossy(self.name(raw, i));
            let value = String::from_utf8_lossy(self.value(raw, i));
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{name}={value:?}"));
        }
        out
    }

    /// The number of UTF-8 characters in the names and values.
    pub(super) fn chars(&self, raw: &[u8]) -> usize {
        (0..self.len())
            .map(|i| utf8_chars(self.name(raw, i)) + utf8_chars(self.value(raw, i)))
            .sum()
    }
}

/// The number of characters in `text`, which the parser accepted, so valid
/// UTF-8: the bytes that start a character.
fn utf8_chars(text: &[u8]) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
    }
}

/// For an exemplar's label text in the plain shape (see
/// [`LabelSet::read`]) with at most 8 pairs: the UTF-8 characters of its
/// names and values, whether a name repeats, and the least name starting
/// with `__`. `None` for any other text (read it into a [`LabelSet`]).
pub(super) fn plain_exemplar(raw: &[u8]) -> Option<(usize, bool, Option<&[u8]>)> {
    let mut names: [&[u8]; 8] = [&[]; 8];
    let (mut n, mut chars, mut i) = (0, 0, 0);
    while i < raw.len() {
        if n == names.len() {
            return None;
        }
        let (name_end, close) = plain_pair(raw, i)?;
        names[n] = &raw[i..name_end];
        n += 1;
        chars += name_end - i + utf8_chars(&raw[name_end + 2..close]);
        match raw.get(close + 1) {
            None => break,
            Some(b',') => i = close + 2,
            Some(_) => return None,
        }
    }
    let names = &names[..n];
    let repeated = (1..n).any(|j| names[..j].iter().any(|a| same_bytes(a, names[j])));
    let reserved = names.iter().copied().filter(|n| n.starts_with(b"__")).min();
    Some((chars, repeated, reserved))
}

/// Appends `name="value"` and a comma: a label given as text (protobuf),
/// written so that [`LabelSet::read`] reads it back. The value is quoted
/// and escaped as the text format escapes it; so is the name, unless it is
/// a name the text format writes bare, which keeps a usual label set in
/// the shape read the fastest.
pub(super) fn write_pair(out: &mut Vec<u8>, name: &str, value: &str) {
    // Copied a run at a time (not byte by byte): few values have a byte
    // to escape.
    let quoted = |out: &mut Vec<u8>, s: &str| {
        out.push(b'"');
        let mut rest = s.as_bytes();
        while let Some(at) = memchr::memchr3(b'\\', b'"', b'\n', rest) {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(match rest[at] {
                b'\\' => b"\\\\",
                b'"' => b"\\\"",
                _ => b"\\n",
            });
            rest = &rest[at + 1..];
        }
        out.extend_from_slice(rest);
        out.push(b'"');
    };
    let bytes = name.as_bytes();
    let bare = bytes
        .first()
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        && label_name_end(bytes, 1) == bytes.len();
    if bare {
        out.extend_from_slice(bytes);
    } else {
        quoted(out, name);
    }
    out.push(b'=');
    quoted(out, value);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Labels;

    fn read(raw: &[u8]) -> LabelSet {
        let mut set = LabelSet::default();
        set.read(raw);
        set
    }

    /// The same pairs and leniency as the parser's own label iterator.
    #[test]
    fn reads_as_the_label_iterator_does() {
        let cases: &[&[u8]] = &[
            b"",
            b"a=\"1\"",
            b"a=\"1\",",
            b"a=\"1\",b=\"x\\\"y\\\\z\\n\"",
            b"\"my.metric\",\"a.b\"=\"1\"",
            b"\"a\\\"b\"=\"1\",\"m\"",
            b" a = \"1\" b=\"2\" , ",
            b"a=\"1\",,b=\"2\"",
            b",a=\"1\"",
            b"a=\"1\"b=\"2\"",
            b"a=\"\xc3\xa9\",\"\"=\"\"",
            b"le=\"+Inf\",le=\"1\",quantile=\"0.5\"",
        ];
        for &raw in cases {
            let set = read(raw);
            let mut it = Labels::new(raw);
            let mut want = Vec::new();
            for (name, value) in it.by_ref() {
                want.push((name.to_str().into_owned(), value.to_str().into_owned()));
            }
            let got: Vec<_> = (0..set.len())
                .map(|i| {
                    (
                        String::from_utf8_lossy(set.name(raw, i)).into_owned(),
                        String::from_utf8_lossy(set.value(raw, i)).into_owned(),
                    )
                })
                .collect();
            let ctx = String::from_utf8_lossy(raw);
            assert_eq!(got, want, "{ctx}");
            assert_eq!(set.lenient, it.lenient(), "{ctx}");
            let le = want.iter().position(|(n, _)| n == "le");
            assert_eq!(set.le, le, "{ctx}");
        }
    }

    /// What one set reads after another text is what a fresh set reads:
    /// the pairs a text shares with the one before are kept, no more.
    #[test]
    fn texts_read_in_a_row_as_each_alone() {
        let texts: &[&[u8]] = &[
            b"a=\"1\",b=\"2\",le=\"0.5\"",
            b"a=\"1\",b=\"2\",le=\"1\"",
            b"a=\"1\",b=\"2\",le=\"1\"",
            b"a=\"1\",b=\"2\"",
            b"a=\"1\",b=\"2\",",
            b"a=\"1\",b=\"2\",b=\"3\"",
            b"a=\"1\",b=\"22\"",
            b"a=\"1\",__b=\"2\",quantile=\"1\"",
            b"a=\"1\",__b=\"2\"",
            b"a=\"1\", b=\"2\"",
            b"a=\"1\",b=\"2\"",
            b"a=\"1\",b=\"x\\\\y\"",
            b"a=\"1\",b=\"2\"",
            b"",
            b"a=\"1\"",
            b"z=\"1\",a=\"1\",z=\"2\"",
            b"z=\"1\",a=\"1\"",
        ];
        let mut set = LabelSet::default();
        for (i, &raw) in texts.iter().enumerate() {
            set.read(raw);
            let mut fresh = read(raw);
            let ctx = format!("text {i}: {}", String::from_utf8_lossy(raw));
            assert_eq!(set.len(), fresh.len(), "{ctx}");
            for p in 0..set.len() {
                assert_eq!(set.name(raw, p), fresh.name(raw, p), "{ctx}");
                assert_eq!(set.value(raw, p), fresh.value(raw, p), "{ctx}");
                assert_eq!(set.pair_hash(p), fresh.pair_hash(p), "{ctx}");
                assert_eq!(set.cut(raw, p), fresh.cut(raw, p), "{ctx}");
            }
            assert_eq!(set.sum(), fresh.sum(), "{ctx}");
            assert_eq!(set.state.increasing, fresh.state.increasing, "{ctx}");
            assert_eq!(set.state.reserved, fresh.state.reserved, "{ctx}");
            assert_eq!((set.le, set.quantile), (fresh.le, fresh.quantile), "{ctx}");
            assert_eq!(set.lenient, fresh.lenient, "{ctx}");
            assert_eq!(set.repeated_name(raw), fresh.repeated_name(raw), "{ctx}");
        }
    }

    #[test]
    fn order_repeats_and_reserved_names() {
        let raw = b"b=\"1\",a=\"2\"";
        let mut set = read(raw);
        assert!(!set.state.increasing);
        assert_eq!(set.repeated_name(raw), None);
        let raw = b"a=\"1\",b=\"2\",c=\"3\"";
        assert!(read(raw).state.increasing);
        let raw = b"z=\"1\",y=\"1\",z=\"2\",y=\"3\"";
        assert_eq!(read(raw).repeated_name(raw), Some(b"y".to_vec()));
        // Many names, each below the one before.
        let many: String = (0..20).rev().map(|i| format!("n{i:02}=\"v\",")).collect();
        let mut set = read(many.as_bytes());
        assert_eq!(set.repeated_name(many.as_bytes()), None);
        let many = format!("{many}n07=\"w\"");
        let mut set2 = read(many.as_bytes());
        assert_eq!(set2.repeated_name(many.as_bytes()), Some(b"n07".to_vec()));
        set = read(b"__z=\"1\",a=\"1\",__b=\"2\"");
        assert_eq!(
            set.reserved_name(b"__z=\"1\",a=\"1\",__b=\"2\""),
            Some(&b"__b"[..])
        );
        assert_eq!(read(b"_a=\"1\"").reserved_name(b"_a=\"1\""), None);
    }

    #[test]
    fn hash_sum_ignores_order_and_escapes() {
        let a = read(b"a=\"1\",b=\"x\\\\y\"");
        let b = read(b"b=\"x\\y\",\"a\"=\"1\"");
        assert_eq!(a.sum(), b.sum());
        assert_ne!(a.sum(), read(b"a=\"1\",b=\"x\"").sum());
        assert_ne!(
            read(b"a=\"1\",b=\"2\"").sum(),
            read(b"a=\"2\",b=\"1\"").sum()
        );
    }

    #[test]
    fn cut_leaves_a_label_text_of_the_other_pairs() {
        for (raw, left) in [
            (&b"a=\"1\",le=\"2\""[..], &b"a=\"1\""[..]),
            (b"le=\"2\",a=\"1\"", b"a=\"1\""),
            (b"a=\"1\",le=\"2\",b=\"3\"", b"a=\"1\",b=\"3\""),
            (b"le=\"2\"", b""),
            (b"le=\"2\",", b""),
            (b"a=\"1\",le=\"2\",", b"a=\"1\","),
            (b"\"m\",\"le\"=\"2\"", b"\"m\","),
        ] {
            let set = read(raw);
            let le = set.le.unwrap();
            let (from, to) = set.cut(raw, le);
            let rest = [&raw[..from], &raw[to..]].concat();
            assert_eq!(rest, left, "{}", String::from_utf8_lossy(raw));
            let mut other = read(&rest);
            let mut set = read(raw);
            assert!(set.same_pairs(raw, Some(le), &mut other, &rest));
            assert_eq!(other.sum(), set.sum().wrapping_sub(set.pair_hash(le)));
        }
    }

    #[test]
    fn same_pairs_in_any_order() {
        let (x, y) = (&b"a=\"1\",b=\"2\""[..], &b"\"b\"=\"2\",a=\"1\","[..]);
        assert!(read(x).same_pairs(x, None, &mut read(y), y));
        let z = &b"a=\"1\",b=\"3\""[..];
        assert!(!read(x).same_pairs(x, None, &mut read(z), z));
        let w = &b"a=\"1\""[..];
        assert!(!read(x).same_pairs(x, None, &mut read(w), w));
    }

    /// The exemplar shortcut counts as a label set does.
    #[test]
    fn plain_exemplars_as_label_sets() {
        for raw in [
            &b""[..],
            b"trace_id=\"abc\"",
            b"a=\"\xc3\xa9\",b=\"x\"",
            b"a=\"1\",a=\"2\"",
            b"b=\"1\",a=\"2\",b=\"\"",
            b"a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\"",
            b"__z=\"1\",a=\"2\",__b=\"3\"",
        ] {
            let mut set = read(raw);
            let want = (
                set.chars(raw),
                set.repeated_name(raw).is_some(),
                set.reserved_name(raw),
            );
            assert_eq!(
                plain_exemplar(raw),
                Some(want),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        for raw in [
            &b"a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\",h=\"8\",i=\"9\""[..],
            b"a=\"x\\\\y\"",
            b"\"a\"=\"1\"",
            b"a =\"1\"",
        ] {
            assert_eq!(
                plain_exemplar(raw),
                None,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn written_pairs_read_back() {
        let mut out = Vec::new();
        write_pair(&mut out, "a\"b", "x\\y\nz");
        write_pair(&mut out, "le", "+Inf");
        let mut set = read(&out);
        assert_eq!(set.len(), 2);
        assert_eq!(set.name(&out, 0), b"a\"b");
        assert_eq!(set.value(&out, 0), b"x\\y\nz");
        assert_eq!(set.le, Some(1));
        assert_eq!(set.key_text(&out, None), "a\"b=\"x\\\\y\\nz\",le=\"+Inf\"");
        assert_eq!(set.chars(&out), 3 + 5 + 2 + 4);
    }
}
