//! The rules OpenMetrics 1.0 text adds to what the line parser and the
//! validator's common checks enforce: names and HELP text as the ABNF
//! writes them, units, family names that cannot clash with another
//! family's sample names, and the MetricPoint rules.
//!
//! # Metrics and MetricPoints
//!
//! A sample belongs to a Metric: its family's label set, which is the
//! sample's labels without the one the MetricPoint adds (`le` on a bucket,
//! `quantile` on a quantile, the state label of a stateset). A Metric's
//! samples come together (Metrics are not interleaved), and they form its
//! MetricPoints: all of them without timestamps (one MetricPoint), or all
//! with timestamps that never go back, a MetricPoint being the samples
//! of one timestamp. So a series appears once per MetricPoint, and again
//! only with a greater timestamp. The validators find a sample's Metric
//! (each its own way) and give it to [`Points`], which holds the rules.
//!
//! Timestamps are compared as the decimal numbers they are written as,
//! not as floats: nanosecond timestamps that round to one `f64` are
//! still different MetricPoints.

use std::cmp::Ordering;

use crate::float::parse_go_float;
use crate::text::MetricType;

/// A rule a line breaks: where, what the rule expects and what was found.
#[derive(Debug)]
pub(super) struct Violation {
    pub(super) line: u64,
    pub(super) expected: String,
    pub(super) found: String,
}

/// A rule kept, or how it was broken (boxed: the kept case is the hot one,
/// and a small `Result` is returned in registers).
pub(super) type Rule<T = ()> = Result<T, Box<Violation>>;

#[cold]
fn violation(line: u64, expected: impl Into<String>, found: impl Into<String>) -> Box<Violation> {
    Box::new(Violation {
        line,
        expected: expected.into(),
        found: found.into(),
    })
}

/// The suffixes a family of type `ty` gives its sample names (the family
/// name itself aside): what no other family's name may be.
pub(super) fn sample_suffixes(ty: MetricType) -> &'static [&'static str] {
    match ty {
        MetricType::Counter => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary => &["_count", "_sum", "_created"],
        MetricType::Info => &["_info"],
        MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[],
    }
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// A metric name (of a sample or a metadata line) is written bare: the
/// ABNF's `metricname` has no quoted form.
#[inline]
pub(super) fn name_rule(line: u64, name: &[u8], quoted: bool) -> Rule {
    if quoted {
        return Err(violation(
            line,
            "a metric name written bare ([a-zA-Z_:][a-zA-Z0-9_:]*; OpenMetrics 1.0 has no quoted names)",
            format!("{:?} quoted", text(name)),
        ));
    }
    Ok(())
}

/// Label names (of a sample or an exemplar) are written bare.
#[inline]
pub(super) fn label_names_rule(line: u64, quoted: bool, exemplar: bool) -> Rule {
    if quoted {
        let whose = if exemplar { "exemplar label" } else { "label" };
        return Err(violation(
            line,
            format!(
                "{whose} names written bare ([a-zA-Z_][a-zA-Z0-9_]*; OpenMetrics 1.0 has no quoted names)"
            ),
            "a quoted label name",
        ));
    }
    Ok(())
}

/// MetricFamily names starting with underscores are reserved (read, as
/// for label names, as the `__` prefix).
#[inline]
pub(super) fn family_name_rule(line: u64, name: &[u8]) -> Rule {
    if name.starts_with(b"__") {
        return Err(violation(
            line,
            "a metric family name not starting with \"__\" (reserved)",
            format!("{:?}", text(name)),
        ));
    }
    Ok(())
}

/// HELP text is an `escaped-string`: a backslash always escapes the next
/// character, a double quote is written `\"`, and the line ends with a
/// line feed alone.
pub(super) fn help_rule(line: u64, help: &[u8]) -> Rule {
    if help.last() == Some(&b'\r') {
        return Err(violation(
            line,
            "a line ending in \\n alone",
            "a carriage return before it",
        ));
    }
    let mut i = 0;
    while let Some(at) = memchr::memchr2(b'\\', b'"', &help[i..]) {
        let at = i + at;
        if help[at] == b'"' {
            return Err(violation(
                line,
                "HELP text with '\"' escaped as \\\"",
                "an unescaped '\"'",
            ));
        }
        if at + 1 == help.len() {
            return Err(violation(
                line,
                "HELP text whose backslashes each escape a character",
                "a backslash ending it",
            ));
        }
        i = at + 2;
    }
    Ok(())
}

/// Info and stateset families have no unit.
pub(super) fn unit_rule(line: u64, ty: MetricType, family: &[u8], unit: bool) -> Rule {
    if unit && matches!(ty, MetricType::Info | MetricType::Stateset) {
        return Err(violation(
            line,
            format!(
                "no unit for {} family {} (info and stateset families have none)",
                ty.as_str(),
                text(family)
            ),
            "a # UNIT line with one",
        ));
    }
    Ok(())
}

/// What a name clashes with: the name of a family, or one of its sample
/// names.
pub(super) fn clash_found(name: &str, owner: &str, ty: Option<MetricType>, own: bool) -> String {
    let ty = ty.unwrap_or(MetricType::Unknown).as_str();
    if own {
        format!("{name}, the name of {ty} family {owner}")
    } else {
        format!("{name}, a sample name of {ty} family {owner}")
    }
}

pub(super) const CLASH: &str =
    "metric family and sample names no two families share (names clash in the text format)";

/// The labels a MetricPoint adds are there, and the Metric's own labels
/// do not use their names: a bucket has a float `le` (`+Inf` written so),
/// no other histogram sample has one; a quantile sample has a `quantile`
/// between 0 and 1, no other summary sample has one; a stateset sample has
/// the label named after its family. Returns the bucket's bound.
#[inline]
pub(super) fn point_labels_rule(
    line: u64,
    ty: MetricType,
    suffix: &[u8],
    (family, full_name): (&[u8], &[u8]),
    le: Option<&[u8]>,
    quantile: Option<&[u8]>,
    state: Option<bool>,
) -> Rule<Option<f64>> {
    match ty {
        MetricType::Histogram | MetricType::GaugeHistogram if suffix == b"_bucket" => {
            let Some(le) = le else {
                return Err(violation(line, "an le label on a histogram bucket", "none"));
            };
            let Some(v) = parse_go_float(le).filter(|v| !v.is_nan()) else {
                return Err(violation(
                    line,
                    "a float le value",
                    format!("{:?}", text(le)),
                ));
            };
            if v == f64::INFINITY && le != b"+Inf" {
                return Err(violation(
                    line,
                    "le=\"+Inf\" for the +Inf bucket (the canonical spelling)",
                    format!("le={:?}", text(le)),
                ));
            }
            Ok(Some(v))
        }
        MetricType::Histogram | MetricType::GaugeHistogram if le.is_some() => Err(violation(
            line,
            format!(
                "no le label on {} (a histogram's Metrics have none)",
                text(full_name)
            ),
            format!("le={:?}", text(le.unwrap_or_default())),
        )),
        MetricType::Summary if suffix.is_empty() => {
            let Some(q) = quantile else {
                return Err(violation(
                    line,
                    "a quantile label on a summary sample",
                    "none",
                ));
            };
            match parse_go_float(q) {
                Some(v) if (0.0..=1.0).contains(&v) => Ok(None),
                _ => Err(violation(
                    line,
                    "a quantile between 0 and 1",
                    format!("{:?}", text(q)),
                )),
            }
        }
        MetricType::Summary if quantile.is_some() => Err(violation(
            line,
            format!(
                "no quantile label on {} (a summary's Metrics have none)",
                text(full_name)
            ),
            format!("quantile={:?}", text(quantile.unwrap_or_default())),
        )),
        MetricType::Stateset if state == Some(false) => Err(violation(
            line,
            format!("a label named {:?} on a stateset sample", text(family)),
            "none",
        )),
        _ => Ok(None),
    }
}

/// An exemplar: on a counter's `_total` or a bucket, labels written bare,
/// at most 128 characters of names and values, names distinct and not
/// reserved, and on a bucket a value the bucket counts (at most its `le`).
pub(super) struct ExemplarFacts<'a> {
    pub(super) quoted: bool,
    pub(super) chars: usize,
    pub(super) repeated: bool,
    pub(super) reserved: Option<&'a [u8]>,
    pub(super) value: f64,
}

pub(super) fn exemplar_rule(
    line: u64,
    ty: MetricType,
    suffix: &[u8],
    full_name: &[u8],
    le: Option<f64>,
    ex: &ExemplarFacts<'_>,
) -> Rule {
    let bucket =
        matches!(ty, MetricType::Histogram | MetricType::GaugeHistogram) && suffix == b"_bucket";
    if !(bucket || (ty == MetricType::Counter && suffix == b"_total")) {
        return Err(violation(
            line,
            "exemplars only on counter _total and histogram _bucket samples",
            format!("one on {}", text(full_name)),
        ));
    }
    label_names_rule(line, ex.quoted, true)?;
    if ex.chars > 128 {
        return Err(violation(
            line,
            "exemplar labels of at most 128 UTF-8 characters",
            format!("{} characters", ex.chars),
        ));
    }
    if ex.repeated {
        return Err(violation(
            line,
            "distinct exemplar label names",
            "a repeated name",
        ));
    }
    if let Some(name) = ex.reserved {
        return Err(violation(
            line,
            "exemplar label names not starting with \"__\" (reserved)",
            format!("{:?}", text(name)),
        ));
    }
    let counted = |le: f64| ex.value <= le;
    if let Some(le) = le.filter(|&le| bucket && !counted(le)) {
        return Err(violation(
            line,
            format!("an exemplar value the bucket counts (<= {le})"),
            format!("{}", ex.value),
        ));
    }
    Ok(())
}

/// Whether `v` may be a counter's value: not negative, not NaN.
fn counter_like(v: f64) -> bool {
    v >= 0.0
}

/// Whether `v` is a whole number (counts and buckets are integers).
fn integral(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0
}

/// Bits of the samples a MetricPoint has had, by suffix.
fn suffix_bit(suffix: &[u8]) -> u16 {
    match suffix {
        b"" => 1,
        b"_total" => 2,
        b"_created" => 4,
        b"_count" => 8,
        b"_sum" => 16,
        b"_gcount" => 32,
        b"_gsum" => 64,
        b"_info" => 128,
        _ => 256,
    }
}

/// What the MetricPoint being read has had.
#[derive(Debug, Default, Clone)]
struct Point {
    /// The samples seen, a bit per suffix.
    seen: u16,
    buckets: bool,
    last_le: Option<f64>,
    last_bucket: f64,
    inf: Option<f64>,
    /// A bucket with a negative bound.
    below_zero: bool,
    count: Option<f64>,
    sum: Option<f64>,
    total: Option<f64>,
    created: Option<f64>,
    /// The line of its last sample.
    last_line: u64,
}

/// A sample as the MetricPoint rules see it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PointSample<'a> {
    pub(super) line: u64,
    pub(super) ty: MetricType,
    /// The name's suffix after the family name.
    pub(super) suffix: &'a [u8],
    /// The value (only read for types with value rules).
    pub(super) value: f64,
    /// A bucket's bound, as written and as a number.
    pub(super) le: Option<(&'a [u8], f64)>,
}

/// The Metric being read (its MetricPoints) in the family being read.
#[derive(Debug, Default)]
pub(super) struct Points {
    open: bool,
    /// Whether its samples have timestamps.
    timestamped: bool,
    /// The current MetricPoint's timestamp, as written, and its value.
    ts: Vec<u8>,
    ts_value: f64,
    point: Point,
    /// The counter total and created of the MetricPoint before, if it had
    /// a total.
    prev: Option<(f64, Option<f64>)>,
    /// Numbers the MetricPoints of the family, so that a series seen in
    /// the current one can be told from one seen earlier.
    id: u64,
}

impl Points {
    /// Forgets the family's Metrics (a new family starts).
    pub(super) fn reset(&mut self) {
        self.open = false;
        self.point = Point::default();
        self.prev = None;
        self.id = 0;
    }

    /// Whether a Metric is being read.
    #[inline]
    pub(super) fn is_open(&self) -> bool {
        self.open
    }

    /// The number of the current MetricPoint (never 0).
    #[inline]
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The current MetricPoint's last bucket bound.
    #[inline]
    pub(super) fn last_le(&self) -> Option<f64> {
        self.point.last_le
    }

    /// Marks a sample with `suffix` seen in the current MetricPoint; `true`
    /// when it already had one (for samples that differ only by suffix).
    #[inline]
    pub(super) fn seen_twice(&mut self, suffix: &[u8]) -> bool {
        let bit = suffix_bit(suffix);
        let twice = self.point.seen & bit != 0;
        self.point.seen |= bit;
        twice
    }

    fn start_point(&mut self, ts: Option<&[u8]>) {
        self.point = Point::default();
        self.ts.clear();
        if let Some(ts) = ts {
            self.ts.extend_from_slice(ts);
            self.ts_value = parse_go_float(ts).unwrap_or(f64::NAN);
        }
        self.id += 1;
    }

    /// Starts a Metric, whose first sample has the timestamp `ts`.
    #[inline]
    pub(super) fn start(&mut self, ts: Option<&[u8]>) {
        self.open = true;
        self.timestamped = ts.is_some();
        self.prev = None;
        self.start_point(ts);
    }

    /// Ends the Metric being read (if one is): the rules on its last
    /// MetricPoint, whose labels `key` writes for messages.
    pub(super) fn end(
        &mut self,
        ty: MetricType,
        family: &[u8],
        key: impl FnOnce() -> String,
    ) -> Rule {
        if !self.open {
            return Ok(());
        }
        self.open = false;
        self.end_point(ty, family, key)
    }

    /// The next sample of the Metric being read, with timestamp `ts`: the
    /// timestamp rules, and the end of the MetricPoint when `ts` starts
    /// another.
    pub(super) fn next(
        &mut self,
        line: u64,
        ty: MetricType,
        family: &[u8],
        ts: Option<&[u8]>,
        key: impl FnOnce() -> String,
    ) -> Rule {
        match (ts, self.timestamped) {
            (None, false) => return Ok(()),
            (Some(_), false) => {
                return Err(violation(
                    line,
                    "timestamps on all samples of a Metric or on none",
                    "one after a sample without",
                ));
            }
            (None, true) => {
                return Err(violation(
                    line,
                    "timestamps on all samples of a Metric or on none",
                    "none after a sample with one",
                ));
            }
            (Some(_), true) => {}
        }
        let ts = ts.unwrap_or_default();
        match cmp_timestamps(
            ts,
            parse_go_float(ts).unwrap_or(f64::NAN),
            &self.ts,
            self.ts_value,
        ) {
            Ordering::Equal => Ok(()),
            Ordering::Less => Err(violation(
                line,
                "a Metric's MetricPoints in increasing timestamp order",
                format!("{} after {}", text(ts), text(&self.ts)),
            )),
            Ordering::Greater => {
                self.end_point(ty, family, key)?;
                self.start_point(Some(ts));
                Ok(())
            }
        }
    }

    /// The rules on a MetricPoint once all its samples are known.
    fn end_point(&mut self, ty: MetricType, family: &[u8], key: impl FnOnce() -> String) -> Rule {
        let p = &self.point;
        let line = p.last_line;
        // A series of the MetricPoint, as messages name it (only on error).
        let series = |suffix: &str| format!("{}{suffix}{{{}}}", text(family), key());
        match ty {
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let (count, sum) = if ty == MetricType::Histogram {
                    ("_count", "_sum")
                } else {
                    ("_gcount", "_gsum")
                };
                let Some(inf) = p.inf else {
                    let found = if p.buckets { "none" } else { "no bucket" };
                    let expected =
                        format!("a le=\"+Inf\" bucket in {} {}", ty.as_str(), series(""));
                    return Err(violation(line, expected, found));
                };
                if let Some(c) = p.count
                    && c != inf
                {
                    return Err(violation(
                        line,
                        format!("{} equal to its +Inf bucket ({inf})", series(count)),
                        format!("{c}"),
                    ));
                }
                if p.sum.is_some() != p.count.is_some() {
                    let (has, lacks) = if p.sum.is_some() {
                        (sum, count)
                    } else {
                        (count, sum)
                    };
                    return Err(violation(
                        line,
                        format!("{} with its {has} (both or neither)", series(lacks)),
                        format!("only {has}"),
                    ));
                }
                if ty == MetricType::Histogram && p.sum.is_some() && p.below_zero {
                    return Err(violation(
                        line,
                        format!("no {} in a MetricPoint with buckets below 0", series(sum)),
                        "one",
                    ));
                }
                if let Some(gsum) = p.sum.filter(|s| *s < 0.0)
                    && ty == MetricType::GaugeHistogram
                    && !p.below_zero
                {
                    return Err(violation(
                        line,
                        format!("{} >= 0 (negative only with buckets below 0)", series(sum)),
                        format!("{gsum}"),
                    ));
                }
            }
            MetricType::Counter => {
                let Some(total) = p.total else {
                    return Err(violation(
                        line,
                        format!("a {} sample in each MetricPoint", series("_total")),
                        "only _created",
                    ));
                };
                if let Some((prev, prev_created)) = self.prev
                    && total < prev
                    && p.created == prev_created
                {
                    return Err(violation(
                        line,
                        format!(
                            "{} not below the MetricPoint before ({prev}) unless reset (with a new _created)",
                            series("_total")
                        ),
                        format!("{total}"),
                    ));
                }
                self.prev = Some((total, p.created));
            }
            _ => {}
        }
        Ok(())
    }

    /// A sample of the current MetricPoint (its series new in it): the
    /// value rules of its type.
    pub(super) fn sample(&mut self, s: &PointSample<'_>) -> Rule {
        let p = &mut self.point;
        p.last_line = s.line;
        let (line, v) = (s.line, s.value);
        let finite_created = |v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(violation(
                    line,
                    "a _created value that is a timestamp (a finite number)",
                    format!("{v}"),
                ))
            }
        };
        match (s.ty, s.suffix) {
            (MetricType::Counter, b"_total") => {
                if !counter_like(v) {
                    return Err(violation(line, "a counter value >= 0", format!("{v}")));
                }
                p.total = Some(v);
            }
            (MetricType::Counter | MetricType::Histogram | MetricType::Summary, b"_created") => {
                finite_created(v)?;
                p.created = Some(v);
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, b"_bucket") => {
                let (le_text, le) = s.le.unwrap_or((b"", f64::NAN));
                if let Some(prev) = p.last_le.filter(|prev| le <= *prev) {
                    return Err(violation(
                        line,
                        "histogram buckets in increasing le order",
                        format!("le={:?} after le={prev}", text(le_text)),
                    ));
                }
                if p.buckets && v < p.last_bucket {
                    return Err(violation(
                        line,
                        "non-decreasing cumulative bucket counts",
                        format!("{v} after {}", p.last_bucket),
                    ));
                }
                if !counter_like(v) {
                    return Err(violation(line, "a bucket count >= 0", format!("{v}")));
                }
                if !integral(v) {
                    return Err(violation(line, "an integer bucket count", format!("{v}")));
                }
                p.buckets = true;
                p.last_le = Some(le);
                p.last_bucket = v;
                p.below_zero |= le < 0.0;
                if le == f64::INFINITY {
                    p.inf = Some(v);
                }
            }
            (
                MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary,
                b"_count" | b"_gcount",
            ) => {
                if !counter_like(v) {
                    return Err(violation(line, "a count >= 0", format!("{v}")));
                }
                if !integral(v) {
                    return Err(violation(line, "an integer count", format!("{v}")));
                }
                p.count = Some(v);
            }
            (MetricType::Histogram | MetricType::Summary, b"_sum") => {
                if !counter_like(v) {
                    let ty = s.ty.as_str();
                    return Err(violation(
                        line,
                        format!("a {ty} _sum >= 0 (a counter: not negative, not NaN)"),
                        format!("{v}"),
                    ));
                }
                p.sum = Some(v);
            }
            (MetricType::GaugeHistogram, b"_gsum") => {
                if v.is_nan() {
                    return Err(violation(line, "a _gsum that is not NaN", "NaN"));
                }
                p.sum = Some(v);
            }
            (MetricType::Summary, b"") if v < 0.0 => {
                return Err(violation(
                    line,
                    "a quantile value >= 0 (or NaN)",
                    format!("{v}"),
                ));
            }
            (MetricType::Stateset, _) if v != 0.0 && v != 1.0 => {
                return Err(violation(
                    line,
                    "a stateset value of 0 or 1",
                    format!("{v}"),
                ));
            }
            (MetricType::Info, _) if v != 1.0 => {
                return Err(violation(line, "an info value of 1", format!("{v}")));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A realnumber (as the parser accepted it: finite) as its decimal digits
/// without leading or trailing zeros and the power of ten of the first:
/// the value is `0.DIGITS * 10^exp`.
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    fn parse(s: &[u8]) -> Self {
        let (negative, rest) = match s.first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let mantissa_end = rest
            .iter()
            .position(|&b| b == b'e' || b == b'E')
            .unwrap_or(rest.len());
        let (mantissa, exponent) = rest.split_at(mantissa_end);
        let exponent = exponent.get(1..).unwrap_or_default();
        let (exp_negative, exp_digits) = match exponent.first() {
            Some(b'-') => (true, &exponent[1..]),
            Some(b'+') => (false, &exponent[1..]),
            _ => (false, exponent),
        };
        let mut exp: i64 = 0;
        for &d in exp_digits.iter().filter(|d| d.is_ascii_digit()) {
            exp = exp.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        }
        if exp_negative {
            exp = -exp;
        }
        let int_len = mantissa
            .iter()
            .position(|&b| b == b'.')
            .unwrap_or(mantissa.len());
        let mut digits: Vec<u8> = mantissa
            .iter()
            .copied()
            .filter(u8::is_ascii_digit)
            .collect();
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        let int_len = i64::try_from(int_len).unwrap_or(i64::MAX);
        let leading = i64::try_from(leading).unwrap_or(i64::MAX);
        Decimal {
            negative,
            exp: exp.saturating_add(int_len).saturating_sub(leading),
            digits,
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |d: &Self| match (d.digits.is_empty(), d.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

/// Orders two timestamps as written (`a`, `b`, with their float values):
/// by value when the floats differ (rounding never reverses an order),
/// digit by digit when they are equal.
fn cmp_timestamps(a: &[u8], a_value: f64, b: &[u8], b_value: f64) -> Ordering {
    match a_value.partial_cmp(&b_value) {
        Some(Ordering::Equal) | None => Decimal::parse(a).cmp(&Decimal::parse(b)),
        Some(order) => order,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        let v = |s: &str| parse_go_float(s.as_bytes()).unwrap();
        cmp_timestamps(a.as_bytes(), v(a), b.as_bytes(), v(b))
    }

    #[test]
    fn timestamps_compare_as_decimals() {
        use Ordering::*;
        for (a, b, want) in [
            ("1", "1.0", Equal),
            ("1", "01.000", Equal),
            ("1e3", "1000", Equal),
            ("1.5E3", "1500.0", Equal),
            ("0", "-0.0", Equal),
            ("0", "0.0000000001", Less),
            ("0.0000000001", "0.0000000010", Less),
            ("1604676851.123456789", "1604676851.123456790", Less),
            ("1604676851.123456790", "1604676851.123456789", Greater),
            ("-1", "-2", Greater),
            ("-1", "-1.1", Greater),
            ("-1.5", "1", Less),
            ("10", "9.99999", Greater),
            (".5", "0.5", Equal),
            ("5.", "5", Equal),
            (
                "12345678901234567890.1234567890",
                "12345678901234567890.123456789",
                Equal,
            ),
            (
                "12345678901234567890.1234567891",
                "12345678901234567890.123456789",
                Greater,
            ),
            ("1e-400", "0", Greater),
        ] {
            assert_eq!(cmp(a, b), want, "{a} vs {b}");
            assert_eq!(cmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn help_text_is_an_escaped_string() {
        for ok in [
            &b""[..],
            b"plain",
            b"he\\n\\\\l\\tp",
            b"\\\"quoted\\\"",
            b"a\\\\",
            b"nul\0byte",
            b"cr\rinside",
        ] {
            assert!(help_rule(1, ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"say \"hi\""[..],
            b"ends in \\",
            b"a\\\\\\",
            b"\\\\\"",
            b"cr\r",
        ] {
            assert!(
                help_rule(1, bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
