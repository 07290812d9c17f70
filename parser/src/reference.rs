//! A deliberately naive reference parser for the Prometheus text format and
//! OpenMetrics, used by the property tests: `String`s, `char`s and plain
//! loops, written from the lexer rules without any of the fast path's tricks,
//! so that the two can be compared on generated and mutated inputs.
//!
//! It reports what a scrape would ingest: the list of samples (name, labels
//! unescaped, value) before the first error, and whether there was an error.
//!
//! Test scaffolding: compiled only with the `testing` feature, which the
//! crate's own tests and the fuzz targets turn on.

/// One sample as the reference sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RefSample {
    /// Metric name, unescaped.
    pub name: String,
    /// Labels in input order, unescaped.
    pub labels: Vec<(String, String)>,
    /// The value token.
    pub value: String,
}

/// Result of parsing a body with the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct RefResult {
    /// Samples before the first error.
    pub samples: Vec<RefSample>,
    /// 1-based line of the first error.
    pub error_line: Option<u64>,
}

/// Parses `body` (Prometheus text if `om` is false, else OpenMetrics).
pub fn parse(body: &[u8], om: bool) -> RefResult {
    let mut samples = Vec::new();
    let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    // A trailing newline leaves an empty last piece that is not a line.
    let terminated_last = body.ends_with(b"\n");
    if terminated_last || body.is_empty() {
        lines.pop();
    }
    let count = lines.len();
    let mut saw_eof = false;
    for (idx, line) in lines.iter().enumerate() {
        let line_no = idx as u64 + 1;
        if saw_eof {
            if om {
                return RefResult {
                    samples,
                    error_line: Some(line_no),
                };
            }
            break;
        }
        let terminated = idx + 1 < count || terminated_last;
        // Text-format comments are bytes to Prometheus (only a HELP text
        // must be UTF-8), so they are read before any UTF-8 decoding.
        let trimmed_start = line
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !om && line.get(trimmed_start) == Some(&b'#') {
            match prom_comment(&line[trimmed_start..]) {
                Ok(()) => continue,
                Err(()) => {
                    return RefResult {
                        samples,
                        error_line: Some(line_no),
                    };
                }
            }
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t.to_owned(),
            Err(_) => {
                // Invalid UTF-8 is allowed only in comments, and a NUL byte
                // at the start of a text-format line ends the body first.
                if !om && line.get(trimmed_start) == Some(&0) {
                    saw_eof = true;
                    continue;
                }
                return RefResult {
                    samples,
                    error_line: Some(line_no),
                };
            }
        };
        let r = if om {
            om_line(&text, terminated)
        } else {
            prom_line(&text)
        };
        match r {
            Ok(Line::Sample(s)) => samples.push(s),
            Ok(Line::Eof) => saw_eof = true,
            Ok(Line::Other) => {}
            Err(()) => {
                return RefResult {
                    samples,
                    error_line: Some(line_no),
                };
            }
        }
    }
    if om && !saw_eof {
        return RefResult {
            samples,
            error_line: Some(count as u64 + 1),
        };
    }
    RefResult {
        samples,
        error_line: None,
    }
}

enum Line {
    Sample(RefSample),
    Eof,
    Other,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() && matches!(chars[i + 1], '\\' | '"' | 'n') {
            out.push(if chars[i + 1] == 'n' {
                '\n'
            } else {
                chars[i + 1]
            });
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}
fn is_lname_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_lname_char(c: char) -> bool {
    is_lname_start(c) || c.is_ascii_digit()
}

/// Go's `strconv.ParseFloat` as Prometheus restricts it, written out.
fn float_ok(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return true;
    }
    if lower == "nan" {
        return body.len() == s.len();
    }
    let (mantissa, exponent) = match lower.find('e') {
        Some(p) => (&lower[..p], Some(&lower[p + 1..])),
        None => (lower.as_str(), None),
    };
    let dots = mantissa.matches('.').count();
    let digits = mantissa.chars().filter(char::is_ascii_digit).count();
    if dots > 1 || digits == 0 || digits + dots != mantissa.len() {
        return false;
    }
    if let Some(e) = exponent {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    s.parse::<f64>().map(f64::is_finite).unwrap_or(false)
}

fn om_ts_ok(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s).to_ascii_lowercase();
    float_ok(s) && !["inf", "infinity", "nan"].contains(&body.as_str())
}

struct Cursor {
    c: Vec<char>,
    i: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.c.get(self.i).copied()
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.i += 1;
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            s.push(c);
            self.i += 1;
        }
        s
    }
    /// A quoted string; returns its raw inside.
    fn quoted(&mut self) -> Result<String, ()> {
        if self.peek() != Some('"') {
            return Err(());
        }
        self.i += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => return Err(()),
                Some('"') => {
                    self.i += 1;
                    return Ok(s);
                }
                Some('\\') => {
                    s.push('\\');
                    self.i += 1;
                    let Some(n) = self.peek() else { return Err(()) };
                    s.push(n);
                    self.i += 1;
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }
    fn rest(&self) -> String {
        self.c[self.i..].iter().collect()
    }
}

/// A Prometheus text comment line (starting at its `#`), as bytes: the
/// lexer's `HELP`/`TYPE` rules; any other comment is ignored.
fn prom_comment(line: &[u8]) -> Result<(), ()> {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let after = &line[1..];
    if !after.first().is_some_and(blank) {
        return Ok(());
    }
    let t: Vec<u8> = after.iter().copied().skip_while(blank).collect();
    let is_type = if t.starts_with(b"TYPE") && t.get(4).is_some_and(blank) {
        true
    } else if t.starts_with(b"HELP") && t.get(4).is_some_and(blank) {
        false
    } else {
        return Ok(());
    };
    let t: Vec<u8> = t[4..].iter().copied().skip_while(blank).collect();
    let name_len = if t.first() == Some(&b'"') {
        // A quoted name: up to the closing quote, and valid UTF-8.
        let mut i = 1;
        loop {
            match t.get(i) {
                None => return Err(()),
                Some(b'"') => break,
                Some(b'\\') => i += 2,
                Some(_) => i += 1,
            }
        }
        std::str::from_utf8(&t[1..i]).map_err(|_| ())?;
        i + 1
    } else {
        if !t.first().is_some_and(|&b| is_name_start(char::from(b))) {
            return Err(());
        }
        t.iter()
            .take_while(|&&b| is_name_char(char::from(b)))
            .count()
    };
    // The lexer's text token is everything after the name; Prometheus
    // drops its first byte (normally the blank), whatever it is.
    let text: &[u8] = t.get(name_len + 1..).unwrap_or(&[]);
    if is_type {
        let types: [&[u8]; 5] = [b"counter", b"gauge", b"histogram", b"summary", b"untyped"];
        if !types.contains(&text) {
            return Err(());
        }
    } else {
        std::str::from_utf8(text).map_err(|_| ())?;
    }
    Ok(())
}

fn prom_line(line: &str) -> Result<Line, ()> {
    let mut cur = Cursor {
        c: line.chars().collect(),
        i: 0,
    };
    cur.ws();
    let Some(first) = cur.peek() else {
        return Ok(Line::Other);
    };
    if first == '\0' {
        return Ok(Line::Eof);
    }
    let mut name = None;
    if is_name_start(first) {
        name = Some(cur.take_while(is_name_char));
    } else if first != '{' {
        return Err(());
    }
    cur.ws();
    let mut labels = Vec::new();
    if cur.peek() == Some('{') {
        cur.i += 1;
        loop {
            cur.ws();
            match cur.peek() {
                None => return Err(()),
                Some('}') => {
                    cur.i += 1;
                    break;
                }
                Some('"') => {
                    let q = cur.quoted()?;
                    cur.ws();
                    if matches!(cur.peek(), Some(',' | '}')) {
                        if name.is_some() {
                            return Err(());
                        }
                        name = Some(unescape(&q));
                        if cur.peek() == Some(',') {
                            cur.i += 1;
                        }
                        continue;
                    }
                    if cur.peek() != Some('=') {
                        return Err(());
                    }
                    cur.i += 1;
                    cur.ws();
                    let v = cur.quoted()?;
                    labels.push((unescape(&q), unescape(&v)));
                }
                Some(c) if is_lname_start(c) => {
                    let n = cur.take_while(is_lname_char);
                    cur.ws();
                    if cur.peek() != Some('=') {
                        return Err(());
                    }
                    cur.i += 1;
                    cur.ws();
                    let v = cur.quoted()?;
                    labels.push((n, unescape(&v)));
                }
                Some(_) => return Err(()),
            }
            cur.ws();
            if cur.peek() == Some(',') {
                cur.i += 1;
            }
        }
        cur.ws();
    }
    let name = name.ok_or(())?;
    let value = cur.take_while(|c| !matches!(c, ' ' | '\t' | '{'));
    if value.is_empty() || !float_ok(&value) {
        return Err(());
    }
    cur.ws();
    if cur.peek().is_some() {
        let ts = cur.take_while(|c| c.is_ascii_digit());
        if ts.is_empty() || ts.parse::<i64>().is_err() {
            return Err(());
        }
        cur.ws();
        if cur.peek().is_some() {
            return Err(());
        }
    }
    Ok(Line::Sample(RefSample {
        name,
        labels,
        value,
    }))
}

fn om_labels(
    cur: &mut Cursor,
    exemplar: bool,
    name: &mut Option<String>,
) -> Result<Vec<(String, String)>, ()> {
    let mut labels = Vec::new();
    let mut first = true;
    loop {
        if first && cur.peek() == Some('}') {
            cur.i += 1;
            return Ok(labels);
        }
        if !first {
            match cur.peek() {
                Some('}') => {
                    cur.i += 1;
                    return Ok(labels);
                }
                Some(',') => cur.i += 1,
                _ => return Err(()),
            }
        }
        first = false;
        let lname = match cur.peek() {
            Some('"') => {
                let q = unescape(&cur.quoted()?);
                if matches!(cur.peek(), Some(',' | '}')) {
                    if exemplar || name.is_some() {
                        return Err(());
                    }
                    *name = Some(q);
                    continue;
                }
                q
            }
            Some(c) if is_lname_start(c) => cur.take_while(is_lname_char),
            _ => return Err(()),
        };
        if cur.peek() != Some('=') {
            return Err(());
        }
        cur.i += 1;
        let v = cur.quoted()?;
        labels.push((lname, unescape(&v)));
    }
}

fn om_token(cur: &mut Cursor) -> Result<String, ()> {
    if cur.peek() != Some(' ') {
        return Err(());
    }
    cur.i += 1;
    let t = cur.take_while(|c| c != ' ');
    if t.is_empty() { Err(()) } else { Ok(t) }
}

fn om_line(line: &str, terminated: bool) -> Result<Line, ()> {
    if line.is_empty() {
        return Err(());
    }
    if let Some(rest) = line.strip_prefix("# ") {
        if rest == "EOF" {
            return Ok(Line::Eof);
        }
        let Some(kind) = ["HELP ", "TYPE ", "UNIT "]
            .iter()
            .find(|k| rest.starts_with(**k))
        else {
            return Err(());
        };
        let mut cur = Cursor {
            c: rest[5..].chars().collect(),
            i: 0,
        };
        let name = if cur.peek() == Some('"') {
            unescape(&cur.quoted()?)
        } else {
            if !cur.peek().is_some_and(is_name_start) {
                return Err(());
            }
            cur.take_while(is_name_char)
        };
        if cur.peek() != Some(' ') || !terminated {
            return Err(());
        }
        let text: String = cur.rest()[1..].to_owned();
        match *kind {
            "TYPE " => {
                let types = [
                    "counter",
                    "gauge",
                    "histogram",
                    "gaugehistogram",
                    "summary",
                    "info",
                    "stateset",
                    "unknown",
                ];
                if !types.contains(&text.as_str()) {
                    return Err(());
                }
            }
            "UNIT " if !text.is_empty() && !name.ends_with(&format!("_{text}")) => {
                return Err(());
            }
            _ => {}
        }
        return Ok(Line::Other);
    }
    let mut cur = Cursor {
        c: line.chars().collect(),
        i: 0,
    };
    let mut name = None;
    if cur.peek().is_some_and(is_name_start) {
        name = Some(cur.take_while(is_name_char));
    } else if cur.peek() != Some('{') {
        return Err(());
    }
    let mut labels = Vec::new();
    if cur.peek() == Some('{') {
        cur.i += 1;
        labels = om_labels(&mut cur, false, &mut name)?;
    }
    let name = name.ok_or(())?;
    let value = om_token(&mut cur)?;
    if !float_ok(&value) {
        return Err(());
    }
    if cur.peek().is_some() && !cur.rest().starts_with(" # {") {
        let ts = om_token(&mut cur)?;
        if !om_ts_ok(&ts) {
            return Err(());
        }
    }
    if cur.peek().is_some() {
        if !cur.rest().starts_with(" # {") {
            return Err(());
        }
        cur.i += 4;
        om_labels(&mut cur, true, &mut None)?;
        let v = om_token(&mut cur)?;
        if !float_ok(&v) {
            return Err(());
        }
        if cur.peek().is_some() {
            let ts = om_token(&mut cur)?;
            if !om_ts_ok(&ts) {
                return Err(());
            }
        }
        if cur.peek().is_some() {
            return Err(());
        }
    }
    if !terminated {
        return Err(());
    }
    Ok(Line::Sample(RefSample {
        name,
        labels,
        value,
    }))
}
