//! Float and integer syntax exactly as Prometheus accepts it (Go's
//! `strconv.ParseFloat` without hex floats and underscores), and Go's float
//! formatting for the `le`/`quantile` labels protobuf series get.

use std::fmt::Write as _;

/// Whether Prometheus's `parseFloat` accepts `s`. Only builds the value when
/// it could overflow (Go reports an out-of-range error where Rust gives
/// infinity), so the counting path pays a byte scan, not a conversion.
pub(crate) fn go_float_ok(s: &[u8]) -> bool {
    match classify(s) {
        FloatSyntax::Invalid => false,
        FloatSyntax::Special => true,
        FloatSyntax::Decimal { may_overflow } => !may_overflow || parse_finite(s).is_some(),
    }
}

/// The value Prometheus's `parseFloat` gives `s`, or `None` if it rejects it.
pub(crate) fn parse_go_float(s: &[u8]) -> Option<f64> {
    if let Some(v) = parse_short_decimal(s) {
        return Some(v);
    }
    match classify(s) {
        FloatSyntax::Invalid => None,
        FloatSyntax::Special => {
            let (neg, rest) = match s.first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, s),
            };
            if rest.eq_ignore_ascii_case(b"nan") {
                Some(f64::NAN)
            } else if neg {
                Some(f64::NEG_INFINITY)
            } else {
                Some(f64::INFINITY)
            }
        }
        FloatSyntax::Decimal { .. } => parse_finite(s),
    }
}

/// Powers of ten exact in an `f64`.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// `[+-]digits[.digits]` with at most 15 digits (counts, bucket bounds,
/// most values), without the general conversion: the digits as an integer
/// and the power of ten are exact in an `f64`, so one correctly rounded
/// division gives the correctly rounded value (Clinger's fast path).
#[inline]
fn parse_short_decimal(s: &[u8]) -> Option<f64> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.len() > 16 {
        return None;
    }
    let (mut mantissa, mut digits, mut dot) = (0u64, 0usize, None);
    for (i, &b) in body.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if dot.is_none() => dot = Some(i),
            _ => return None,
        }
    }
    if digits == 0 || digits > 15 {
        return None;
    }
    let scale = dot.map_or(0, |d| body.len() - d - 1);
    #[allow(clippy::cast_precision_loss)] // below 10^15 < 2^53: exact
    let v = mantissa as f64 / POW10[scale];
    Some(if neg { -v } else { v })
}

fn parse_finite(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    v.is_finite().then_some(v)
}

enum FloatSyntax {
    Invalid,
    Special,
    Decimal { may_overflow: bool },
}

fn classify(s: &[u8]) -> FloatSyntax {
    let mut i = 0;
    let signed = matches!(s.first(), Some(b'+' | b'-'));
    if signed {
        i = 1;
    }
    let rest = &s[i..];
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return FloatSyntax::Special;
    }
    if !signed && rest.eq_ignore_ascii_case(b"nan") {
        return FloatSyntax::Special;
    }
    let mut digits = 0usize;
    let mut int_digits = 0usize;
    let mut seen_dot = false;
    while i < s.len() {
        match s[i] {
            b'0'..=b'9' => {
                digits += 1;
                if !seen_dot {
                    int_digits += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return FloatSyntax::Invalid;
    }
    // The value is below 10^(int_digits + exponent): well inside the f64
    // range up to 10^300, so only larger magnitudes need the conversion to
    // tell whether Go reports them out of range.
    let mut magnitude = int_digits;
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        let negative = s.get(i) == Some(&b'-');
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        let mut exp = 0usize;
        while i < s.len() && s[i].is_ascii_digit() {
            exp = (exp * 10 + usize::from(s[i] - b'0')).min(1 << 20);
            i += 1;
        }
        if i == start {
            return FloatSyntax::Invalid;
        }
        if !negative {
            magnitude = magnitude.saturating_add(exp);
        }
    }
    if i != s.len() {
        return FloatSyntax::Invalid;
    }
    FloatSyntax::Decimal {
        may_overflow: magnitude > 300,
    }
}

/// Whether `s` is a decimal `int64` as Go's `strconv.ParseInt(s, 10, 64)`
/// accepts it after the lexer allowed only digits.
pub(crate) fn digits_fit_i64(s: &[u8]) -> bool {
    parse_i64_digits(s).is_some()
}

pub(crate) fn parse_i64_digits(s: &[u8]) -> Option<i64> {
    let mut v: i64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    (!s.is_empty()).then_some(v)
}

/// A float formatted the way Prometheus names protobuf buckets and quantiles
/// (`formatOpenMetricsFloat`: Go's `%v`, plus `.0` on integral values),
/// stored inline so that visiting a bucket allocates nothing.
#[derive(Clone, Copy)]
pub struct FloatStr {
    buf: [u8; 32],
    len: u8,
}

impl std::fmt::Debug for FloatStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FloatStr {
    /// Formats `v` like Prometheus's `formatOpenMetricsFloat`.
    pub fn new(v: f64) -> Self {
        let mut out = Self {
            buf: [0; 32],
            len: 0,
        };
        if v == 1.0 {
            out.push(b"1.0");
        } else if v == 0.0 {
            out.push(b"0.0");
        } else if v == -1.0 {
            out.push(b"-1.0");
        } else if v.is_nan() {
            out.push(b"NaN");
        } else if v == f64::INFINITY {
            out.push(b"+Inf");
        } else if v == f64::NEG_INFINITY {
            out.push(b"-Inf");
        } else {
            out.go_g(v);
            if !out.as_str().contains(['.', 'e']) {
                out.push(b".0");
            }
        }
        out
    }

    /// The formatted text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }

    fn push(&mut self, s: &[u8]) {
        for &b in s {
            if usize::from(self.len) < self.buf.len() {
                self.buf[usize::from(self.len)] = b;
                self.len += 1;
            }
        }
    }

    /// Go's `%v` on a float64 (`strconv.FormatFloat(v, 'g', -1, 64)`):
    /// shortest round-trip digits, exponent form when the decimal exponent is
    /// below -4 or at least 6, exponent written with at least two digits.
    fn go_g(&mut self, v: f64) {
        // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde±x"
        // (at most 24 bytes), written inline rather than into a `String`.
        let mut sci = Self {
            buf: [0; 32],
            len: 0,
        };
        let _ = write!(Inline(&mut sci), "{v:e}");
        let sci = sci.as_str();
        let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let (neg, mant) = match mant.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mant),
        };
        // At most 17 significant digits.
        let mut digit_buf = [0u8; 32];
        let mut n = 0;
        for (slot, d) in digit_buf
            .iter_mut()
            .zip(mant.bytes().filter(u8::is_ascii_digit))
        {
            *slot = d;
            n += 1;
        }
        let digits = &digit_buf[..n];
        if neg {
            self.push(b"-");
        }
        if !(-4..6).contains(&exp) {
            self.push(&digits[..1]);
            if digits.len() > 1 {
                self.push(b".");
                self.push(&digits[1..]);
            }
            self.push(b"e");
            self.push(if exp < 0 { b"-" } else { b"+" });
            let e = exp.unsigned_abs();
            if e < 10 {
                self.push(b"0");
            }
            let _ = write!(Inline(self), "{e}");
        } else if exp < 0 {
            self.push(b"0.");
            for _ in 0..(-exp - 1) {
                self.push(b"0");
            }
            self.push(digits);
        } else {
            let int_len = usize::try_from(exp).unwrap_or(0) + 1;
            if digits.len() <= int_len {
                self.push(digits);
                for _ in digits.len()..int_len {
                    self.push(b"0");
                }
            } else {
                self.push(&digits[..int_len]);
                self.push(b".");
                self.push(&digits[int_len..]);
            }
        }
    }
}

/// Formats into a [`FloatStr`]'s inline buffer (text past its 32 bytes is
/// dropped, as [`FloatStr::push`] does).
struct Inline<'a>(&'a mut FloatStr);

impl std::fmt::Write for Inline<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.push(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_syntax() {
        for ok in [
            "1",
            "-1",
            "+1.5",
            ".5",
            "5.",
            "1e3",
            "1E-3",
            "Inf",
            "+inf",
            "-Infinity",
            "NaN",
            "nan",
            "1e-400",
            "0001",
            "1.445865e+06",
            "1e300",
            "1e+308",
            "1.7976931348623157e308",
            "0.000000001e308",
            "1e-99999999999999999999",
        ] {
            assert!(go_float_ok(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "+",
            ".",
            "e5",
            "1e",
            "1e+",
            "+nan",
            "0x1p3",
            "1_000",
            "infin",
            "1.2.3",
            "1e400",
            "-1e309",
            "1,5",
            " 1",
            "1e99999999999999999999",
            "10e308",
            "1.8e308",
            "2e+308",
        ] {
            assert!(!go_float_ok(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn short_decimals_parse_exactly_like_the_general_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let digits = usize::try_from(next() % 16).unwrap_or(0) + 1;
            let mut s = String::new();
            match next() % 3 {
                0 => s.push('-'),
                1 => s.push('+'),
                _ => {}
            }
            let dot = usize::try_from(next() % 18).unwrap_or(0);
            for i in 0..digits {
                if i == dot {
                    s.push('.');
                }
                s.push(char::from(b'0' + u8::try_from(next() % 10).unwrap_or(0)));
            }
            if dot == digits {
                s.push('.');
            }
            let want: f64 = s.parse().unwrap();
            let got = parse_go_float(s.as_bytes()).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        for s in [
            "0",
            "-0",
            "0.1",
            "0.005",
            "9007199254740993",
            "123456789012345.6",
            "1.",
            ".1",
        ] {
            let want: f64 = s.parse().unwrap();
            assert_eq!(
                parse_go_float(s.as_bytes()).unwrap().to_bits(),
                want.to_bits(),
                "{s}"
            );
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0.005, "0.005"),
            (0.25, "0.25"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (10.0, "10.0"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (123456789.0, "1.23456789e+08"),
            (f64::INFINITY, "+Inf"),
            (0.99, "0.99"),
        ];
        for (v, want) in cases {
            assert_eq!(FloatStr::new(v).as_str(), want, "{v}");
        }
    }
}
