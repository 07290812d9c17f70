//! The counting fast path: whether a line is a sample Prometheus accepts,
//! and its metric name, without building an [`Entry`](super::Entry).
//!
//! Counting needs only that. These functions accept the common strict shape
//! (`name{label="value",...} value [timestamp]`, bare names, no escapes, no
//! non-ASCII, single spaces) and return `None` for anything else, which the
//! caller then gives to the full line parser ([`parse_prom`](super::parse_prom),
//! [`parse_om`](super::parse_om)). So they may refuse a valid line, but must
//! never accept a line the full parser rejects, nor report a different name:
//! the tests check exactly that. Consecutive lines usually share a prefix
//! (the name; a histogram's buckets all their labels but `le`), so each line
//! resumes after what it shares with the previous accepted one
//! ([`QuickPrev`]).

use super::bytes::{
    LNAME_START, NAME_CONT, NAME_START, class, label_name_end, scan_class, special_bytes, word_at,
};
use crate::float::go_float_ok;

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
/// sample [`parse_prom`](super::parse_prom) accepts with a bare metric name, that name's end
/// (in the returned [`QuickPrev`]) and whether it is `prev`'s name. `None`
/// means: ask [`parse_prom`](super::parse_prom).
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
/// [`quick_prom_sample`], for what [`parse_om`](super::parse_om) accepts (exemplars
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
    use crate::text::entry::Entry;
    use crate::text::openmetrics::parse_om;
    use crate::text::prom::parse_prom;

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
}
