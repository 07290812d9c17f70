//! OpenMetrics 1.0 text, one line at a time: samples with their optional
//! timestamp and exemplar, `# HELP`, `# TYPE`, `# UNIT` and `# EOF`.
//!
//! The rules are Prometheus's `openmetricslex.l` transcribed: strict
//! single spaces, commas only between label pairs, no blank lines or other
//! comments, and every line but `# EOF` must end with a line break.

use super::bytes::{LNAME_CONT, LNAME_START, NAME_CONT, NAME_START, class, scan_class};
use super::entry::{Entry, Exemplar, MetricType, Sample};
use super::names::{LabelStr, meta_name, scan_quoted, second_name};
use crate::error::LineError;
use crate::float::{go_float_ok, parse_go_float};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::entry::sample;

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
