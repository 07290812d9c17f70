//! The Prometheus text format (0.0.4, with Prometheus 3 quoted UTF-8
//! names), one line at a time: samples, `# HELP`, `# TYPE`, other comments
//! and blank lines.
//!
//! The rules are Prometheus's `promlex.l` transcribed, leniency included:
//! blanks around names, `=` and commas, missing or doubled commas, a
//! trailing comma, any `#` line that is not HELP or TYPE as a comment.

use super::bytes::{
    LNAME_CONT, LNAME_START, NAME_CONT, NAME_START, class, is_ws, scan_class, skip_ws,
};
use super::entry::{Entry, MetricType, Sample};
use super::names::{LabelStr, meta_name, scan_quoted, second_name};
use crate::error::LineError;
use crate::float::{digits_fit_i64, go_float_ok};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::entry::sample;

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
}
