//! The strict validator behind `promshard check metrics`: the parse rules
//! of the counting path plus the specifications' rules (see the crate docs,
//! "Counting vs validating", for the list).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::count::Counts;
use crate::error::ParseError;
use crate::float::parse_go_float;
use crate::format::Format;
use crate::sample::{SampleRef, SampleVisitor};
use crate::stream::StreamCounter;
use crate::text::{Entry, LabelStr, MetricType};

/// The outcome of validating a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationReport {
    /// What a Prometheus scrape would count (independent of spec errors).
    pub counts: Counts,
    /// The first parse or specification error, if any.
    pub error: Option<ParseError>,
}

impl ValidationReport {
    /// Whether the body is valid.
    pub fn is_valid(&self) -> bool {
        self.error.is_none()
    }
}

/// Validates a body fed in chunks.
///
/// ```
/// use promshard_parser::{Format, Validator};
/// let mut v = Validator::new(Format::OpenMetrics);
/// v.feed(b"# TYPE a counter\na_total 1\na_total 2\n# EOF\n");
/// let report = v.finish();
/// assert_eq!(report.counts.samples, 2);
/// let err = report.error.unwrap().to_string();
/// assert!(err.starts_with("line 3, column 1: expected"), "{err}");
/// ```
#[derive(Debug)]
pub struct Validator {
    counter: StreamCounter,
    checker: Checker,
}

impl Validator {
    /// A validator for `format`.
    pub fn new(format: Format) -> Self {
        Self::with_counter(StreamCounter::new(format))
    }

    /// A validator using `counter` (for its record limit).
    pub fn with_counter(counter: StreamCounter) -> Self {
        let format = counter.format();
        Self {
            counter,
            checker: Checker::new(format),
        }
    }

    /// Validates the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.counter.feed_with(chunk, &mut self.checker);
    }

    /// Ends the body.
    pub fn finish(mut self) -> ValidationReport {
        let counts = self.counter.finish_with(&mut self.checker);
        let parse_error = counts.error.clone();
        if parse_error.is_none() {
            self.checker.close_family();
        }
        let error = match (self.checker.error.take(), parse_error) {
            (Some(a), Some(b)) => Some(if a.line() <= b.line() { a } else { b }),
            (a, b) => a.or(b),
        };
        ValidationReport { counts, error }
    }
}

/// Validates a whole body.
pub fn validate(body: &[u8], format: Format) -> ValidationReport {
    let mut v = Validator::new(format);
    v.feed(body);
    v.finish()
}

#[derive(Debug, Default, Clone, Copy)]
struct HistGroup {
    last_le: Option<f64>,
    last_value: f64,
    inf: Option<f64>,
    count: Option<f64>,
}

/// A set of byte strings (series keys) with a value each: one arena for
/// the bytes, a table from a fast hash to the entries with that hash. Bytes
/// are compared only when hashes are equal, and nothing is allocated per
/// key once the buffers have grown.
#[derive(Debug, Default)]
struct KeyTable<V> {
    bytes: Vec<u8>,
    entries: Vec<KeyEntry<V>>,
    heads: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
}

#[derive(Debug)]
struct KeyEntry<V> {
    start: usize,
    len: usize,
    /// The next entry with the same hash (`u32::MAX`: none).
    next: u32,
    value: V,
}

const NO_ENTRY: u32 = u32::MAX;

/// The keys of [`KeyTable::heads`] are already hashes.
#[derive(Debug, Default)]
struct HashIsKey(u64);

impl Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn key_hash(key: &[u8]) -> u64 {
    static STATE: std::sync::LazyLock<ahash::RandomState> = std::sync::LazyLock::new(|| {
        ahash::RandomState::with_seeds(
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
            0x082e_fa98_ec4e_6c89,
        )
    });
    STATE.hash_one(key)
}

impl<V: Default> KeyTable<V> {
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.heads.clear();
    }

    /// The entry of `key`, added if new; `true` when it was added.
    fn entry(&mut self, key: &[u8]) -> (usize, bool) {
        let hash = key_hash(key);
        let mut at = self.heads.get(&hash).copied().unwrap_or(NO_ENTRY);
        let head = at;
        while at != NO_ENTRY {
            let e = &self.entries[at as usize];
            if &self.bytes[e.start..e.start + e.len] == key {
                return (at as usize, false);
            }
            at = e.next;
        }
        let index = self.entries.len();
        let Ok(index32) = u32::try_from(index) else {
            // Four billion series in one family: treat as new, unindexed.
            return (index.saturating_sub(1), false);
        };
        self.entries.push(KeyEntry {
            start: self.bytes.len(),
            len: key.len(),
            next: head,
            value: V::default(),
        });
        self.bytes.extend_from_slice(key);
        self.heads.insert(hash, index32);
        (index, true)
    }

    fn key(&self, index: usize) -> &[u8] {
        let e = &self.entries[index];
        &self.bytes[e.start..e.start + e.len]
    }
}

/// The labels of one sample, unescaped, in one reused buffer.
#[derive(Debug, Default)]
struct LabelSet {
    bytes: Vec<u8>,
    pairs: Vec<LabelPair>,
}

#[derive(Debug, Clone, Copy)]
struct LabelPair {
    /// The first 8 bytes of the name, big-endian, zero-padded: most name
    /// comparisons end here.
    prefix: u64,
    start: usize,
    /// End of the name; the value follows it.
    name_end: usize,
    value_end: usize,
}

impl LabelSet {
    fn clear(&mut self) {
        self.bytes.clear();
        self.pairs.clear();
    }

    fn push_with(&mut self, name: impl FnOnce(&mut Vec<u8>), value: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        name(&mut self.bytes);
        let name_end = self.bytes.len();
        value(&mut self.bytes);
        let mut head = [0u8; 8];
        let n = (name_end - start).min(8);
        head[..n].copy_from_slice(&self.bytes[start..start + n]);
        self.pairs.push(LabelPair {
            prefix: u64::from_be_bytes(head),
            start,
            name_end,
            value_end: self.bytes.len(),
        });
    }

    fn push(&mut self, name: &str, value: &str) {
        self.push_with(
            |b| b.extend_from_slice(name.as_bytes()),
            |b| b.extend_from_slice(value.as_bytes()),
        );
    }

    /// A text-format label, unescaped straight into the buffer.
    fn push_text(&mut self, name: LabelStr<'_>, value: LabelStr<'_>) {
        self.push_with(|b| name.unescape_into(b), |b| value.unescape_into(b));
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn name(&self, i: usize) -> &[u8] {
        let p = self.pairs[i];
        &self.bytes[p.start..p.name_end]
    }

    fn value(&self, i: usize) -> &[u8] {
        let p = self.pairs[i];
        &self.bytes[p.name_end..p.value_end]
    }

    /// Sorts by name, then value (as a `(String, String)` list sorts).
    fn sort(&mut self) {
        let bytes = &self.bytes;
        self.pairs.sort_unstable_by(|a, b| {
            a.prefix.cmp(&b.prefix).then_with(|| {
                bytes[a.start..a.name_end]
                    .cmp(&bytes[b.start..b.name_end])
                    .then_with(|| {
                        bytes[a.name_end..a.value_end].cmp(&bytes[b.name_end..b.value_end])
                    })
            })
        });
    }

    /// After [`sort`](Self::sort): the first name that appears twice.
    fn repeated_name(&self) -> Option<&[u8]> {
        (1..self.len())
            .find(|&i| {
                self.pairs[i - 1].prefix == self.pairs[i].prefix && self.name(i - 1) == self.name(i)
            })
            .map(|i| self.name(i))
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        (0..self.len())
            .find(|&i| self.name(i) == name.as_bytes())
            .map(|i| self.value(i))
    }

    /// The sorted labels other than `skip` as a key: `name 0xFE value 0xFF`
    /// per label (bytes that UTF-8 text never contains, so no two label
    /// sets share a key).
    fn key_into(&self, skip: &str, out: &mut Vec<u8>) {
        for i in 0..self.len() {
            if self.name(i) != skip.as_bytes() {
                out.extend_from_slice(self.name(i));
                out.push(0xFE);
                out.extend_from_slice(self.value(i));
                out.push(0xFF);
            }
        }
    }
}

/// A key made by [`LabelSet::key_into`] (after an optional name and 0xFF),
/// written as `name="value",...` for messages.
fn key_text(key: &[u8]) -> String {
    let mut out = String::new();
    for pair in key.split(|&b| b == 0xFF).filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, |&b| b == 0xFE);
        let name = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let value = String::from_utf8_lossy(parts.next().unwrap_or_default());
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("{name}={value:?}"));
    }
    out
}

#[derive(Debug)]
struct Family {
    name: String,
    ty: MetricType,
    declared: bool,
    has_type: bool,
    has_help: bool,
    has_unit: bool,
    samples: u64,
    last_line: u64,
    series: KeyTable<()>,
    hist: KeyTable<HistGroup>,
}

impl Default for Family {
    fn default() -> Self {
        Self {
            name: String::new(),
            ty: MetricType::Unknown,
            declared: false,
            has_type: false,
            has_help: false,
            has_unit: false,
            samples: 0,
            last_line: 0,
            series: KeyTable::default(),
            hist: KeyTable::default(),
        }
    }
}

impl Family {
    /// Starts family `name`, reusing the buffers of `self`.
    fn reset(&mut self, name: &str, ty: MetricType, declared: bool) {
        self.name.clear();
        self.name.push_str(name);
        self.ty = ty;
        self.declared = declared;
        self.has_type = false;
        self.has_help = false;
        self.has_unit = false;
        self.samples = 0;
        self.last_line = 0;
        self.series.clear();
        self.hist.clear();
    }
}

const RESERVED_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

#[derive(Debug)]
struct Checker {
    format: Format,
    error: Option<ParseError>,
    /// The family being read (`open` says whether there is one); its
    /// buffers are reused by the next family.
    cur: Family,
    open: bool,
    closed: HashSet<String>,
    labels: LabelSet,
    key: Vec<u8>,
}

impl Checker {
    fn new(format: Format) -> Self {
        Self {
            format,
            error: None,
            cur: Family::default(),
            open: false,
            closed: HashSet::new(),
            labels: LabelSet::default(),
            key: Vec::new(),
        }
    }

    fn fail(&mut self, line: u64, expected: impl Into<String>, found: impl Into<String>) {
        if self.error.is_none() {
            let e = match self.format {
                Format::Protobuf => ParseError::at_message(line, 0, expected, found),
                _ => ParseError::at_line(line, 1, expected, found),
            };
            self.error = Some(e);
        }
    }

    fn allowed_suffixes(&self, ty: MetricType) -> &'static [&'static str] {
        let om = self.format == Format::OpenMetrics;
        match ty {
            MetricType::Counter if om => &["_total", "_created"],
            MetricType::Counter => &[""],
            MetricType::Gauge | MetricType::Stateset | MetricType::Unknown => &[""],
            MetricType::Histogram if om => &["_bucket", "_count", "_sum", "_created"],
            MetricType::Histogram => &["_bucket", "_count", "_sum"],
            MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            MetricType::Summary if om => &["", "_count", "_sum", "_created"],
            MetricType::Summary => &["", "_count", "_sum"],
            MetricType::Info => &["_info"],
        }
    }

    fn cur(&self) -> Option<&Family> {
        self.open.then_some(&self.cur)
    }

    fn close_family(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        // The first problem in key order, as a report lists them.
        let mut worst: Option<(String, String, String)> = None;
        let f = &self.cur;
        for (i, e) in f.hist.entries.iter().enumerate() {
            let g = e.value;
            let problem = if g.last_le.is_some() && g.inf.is_none() {
                Some((String::new(), None))
            } else {
                match (g.inf, g.count) {
                    (Some(inf), Some(count))
                        if inf != count && !(inf.is_nan() && count.is_nan()) =>
                    {
                        Some((format!("{inf}"), Some(count)))
                    }
                    _ => None,
                }
            };
            let Some((inf, count)) = problem else {
                continue;
            };
            let key = key_text(f.hist.key(i));
            if worst.as_ref().is_some_and(|w| w.0 <= key) {
                continue;
            }
            let (expected, found) = match count {
                None => (
                    format!("a le=\"+Inf\" bucket in histogram {}{{{key}}}", f.name),
                    "none".to_owned(),
                ),
                Some(count) => (
                    format!("{}_count{{{key}}} equal to its +Inf bucket ({inf})", f.name),
                    format!("{count}"),
                ),
            };
            worst = Some((key, expected, found));
        }
        let line = self.cur.last_line;
        if let Some((_, expected, found)) = worst {
            self.fail(line, expected, found);
        }
        self.closed.insert(self.cur.name.clone());
    }

    fn open_family(&mut self, line: u64, name: &str, ty: MetricType, declared: bool) {
        self.close_family();
        if self.closed.contains(name) {
            self.fail(
                line,
                format!("all of family {name} in one group"),
                "it again after another family (interleaved)",
            );
        }
        self.cur.reset(name, ty, declared);
        self.open = true;
    }

    fn family_of(&mut self, line: u64, name: &str, proto_family: Option<(&str, MetricType)>) {
        if let Some((base, ty)) = proto_family {
            if self.cur().is_none_or(|f| f.name != base) {
                self.open_family(line, base, ty, true);
            }
            return;
        }
        if let Some(f) = self.cur()
            && let Some(rest) = name.strip_prefix(f.name.as_str())
        {
            let (ty, declared) = (f.ty, f.declared);
            if self.allowed_suffixes(ty).contains(&rest) {
                return;
            }
            // A declared family's own name, or its name and a reserved
            // suffix, belongs to it even when the type does not allow it.
            if declared && (rest.is_empty() || RESERVED_SUFFIXES.contains(&rest)) {
                let fam = f.name.clone();
                self.fail(
                    line,
                    format!(
                        "a sample name allowed for {} family {fam} (suffixes {:?})",
                        ty.as_str(),
                        self.allowed_suffixes(ty)
                    ),
                    format!("{name:?}"),
                );
                return;
            }
        }
        self.open_family(line, name, MetricType::Unknown, false);
    }
}

/// Strict label-set syntax of the text format: `name="value"` pairs
/// separated by single commas, no blanks, optional trailing comma.
fn strict_text_labels(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        let start = i;
        if raw[i] == b'"' {
            match crate::text::quoted_end_pub(raw, i) {
                Some(e) => i = e,
                None => return false,
            }
        } else {
            while i < raw.len() && (raw[i].is_ascii_alphanumeric() || raw[i] == b'_') {
                i += 1;
            }
        }
        if i == start {
            return false;
        }
        if i < raw.len() && raw[i] == b'=' {
            i += 1;
            match crate::text::quoted_end_pub(raw, i) {
                Some(e) if raw.get(i) == Some(&b'"') => i = e,
                _ => return false,
            }
        }
        if i < raw.len() {
            if raw[i] != b',' {
                return false;
            }
            i += 1;
        }
    }
    true
}

impl SampleVisitor for Checker {
    fn metadata(&mut self, line: u64, entry: &Entry<'_>) {
        let (name, kind) = match entry {
            Entry::Type { name, kind } => (name.to_str(), Some(*kind)),
            Entry::Help { name, .. } | Entry::Unit { name, .. } => (name.to_str(), None),
            _ => return,
        };
        let is_type = matches!(entry, Entry::Type { .. });
        let is_help = matches!(entry, Entry::Help { .. });
        if self.cur().is_none_or(|f| f.name != name) {
            self.open_family(line, &name, kind.unwrap_or(MetricType::Unknown), true);
        }
        let f = &mut self.cur;
        let what = if is_type {
            "TYPE"
        } else if is_help {
            "HELP"
        } else {
            "UNIT"
        };
        let (samples, dup) = (
            f.samples,
            (is_type && f.has_type)
                || (is_help && f.has_help)
                || (!is_type && !is_help && f.has_unit),
        );
        if is_type {
            f.has_type = true;
            f.declared = true;
            if let Some(k) = kind {
                f.ty = k;
            }
        } else if is_help {
            f.has_help = true;
        } else {
            f.has_unit = true;
        }
        if samples > 0 {
            self.fail(
                line,
                format!("# {what} {name} before the family's samples"),
                "it after them",
            );
        } else if dup {
            self.fail(
                line,
                format!("one # {what} line for {name}"),
                "a second one",
            );
        }
    }

    fn sample(&mut self, s: &SampleRef<'_>) {
        if self.error.is_some() {
            return;
        }
        let mut labels = std::mem::take(&mut self.labels);
        let mut key = std::mem::take(&mut self.key);
        self.check_sample(s, &mut labels, &mut key);
        self.labels = labels;
        self.key = key;
    }
}

impl Checker {
    /// The spec checks of one sample; `labels` and `key` are scratch
    /// buffers, reused from sample to sample.
    fn check_sample(&mut self, s: &SampleRef<'_>, labels: &mut LabelSet, key: &mut Vec<u8>) {
        let line = s.position();
        // Text: the whole name, no suffix. Protobuf: the family name and
        // the suffix of the expanded series.
        let (base, proto_suffix) = s.name_parts();
        let proto = s.family_type().map(|t| (base.as_ref(), t));
        self.family_of(line, &base, proto);
        if self.error.is_some() || !self.open {
            return;
        }
        let ty = self.cur.ty;
        let suffix = if proto.is_some() {
            proto_suffix
        } else {
            base.strip_prefix(self.cur.name.as_str()).unwrap_or("")
        };
        let full_name = || format!("{base}{proto_suffix}");

        if let Some(t) = s.as_text()
            && self.format == Format::Text
            && !strict_text_labels(t.labels_raw)
        {
            self.fail(
                line,
                "labels written as name=\"value\" pairs separated by ','",
                "blanks or a missing ','",
            );
            return;
        }
        labels.clear();
        match s.as_text() {
            Some(t) => {
                for (k, v) in t.labels() {
                    labels.push_text(k, v);
                }
            }
            None => {
                for (k, v) in s.labels() {
                    labels.push(&k, &v);
                }
            }
        }
        labels.sort();
        if let Some(name) = labels.repeated_name() {
            let twice = format!("label {:?} twice", String::from_utf8_lossy(name));
            self.fail(line, "distinct label names", twice);
            return;
        }
        if let Some(i) = (0..labels.len()).find(|&i| labels.name(i).starts_with(b"__")) {
            let found = format!("{:?}", String::from_utf8_lossy(labels.name(i)));
            self.fail(
                line,
                "label names not starting with \"__\" (reserved)",
                found,
            );
            return;
        }
        let value = s.value();

        key.clear();
        key.extend_from_slice(base.as_bytes());
        key.extend_from_slice(proto_suffix.as_bytes());
        key.push(0xFF);
        let name_len = key.len();
        labels.key_into("", key);
        let f = &mut self.cur;
        f.samples += 1;
        f.last_line = line;
        if !f.series.entry(key).1 {
            let again = format!("{}{{{}}} again", full_name(), key_text(&key[name_len..]));
            self.fail(line, "each series once", again);
            return;
        }
        let non_negative = |v: f64| v >= 0.0;
        match ty {
            MetricType::Counter if suffix != "_created" && !non_negative(value) => {
                self.fail(line, "a counter value >= 0", format!("{value}"));
            }
            MetricType::Histogram | MetricType::GaugeHistogram if suffix == "_bucket" => {
                let Some(le) = labels.get("le") else {
                    self.fail(line, "an le label on a histogram bucket", "none");
                    return;
                };
                let le = String::from_utf8_lossy(le);
                let Some(le_v) = parse_go_float(le.as_bytes()).filter(|v| !v.is_nan()) else {
                    let found = format!("{le:?}");
                    self.fail(line, "a float le value", found);
                    return;
                };
                key.clear();
                labels.key_into("le", key);
                let hist = &mut self.cur.hist;
                let (i, _) = hist.entry(key);
                let g = &mut hist.entries[i].value;
                let (prev, prev_value) = (g.last_le, g.last_value);
                g.last_le = Some(le_v);
                g.last_value = value;
                if le_v == f64::INFINITY {
                    g.inf = Some(value);
                }
                if prev.is_some_and(|p| le_v <= p) {
                    let found = format!("le={le:?} after le={}", prev.unwrap_or(0.0));
                    self.fail(line, "histogram buckets in increasing le order", found);
                } else if prev.is_some() && value < prev_value {
                    self.fail(
                        line,
                        "non-decreasing cumulative bucket counts",
                        format!("{value} after {prev_value}"),
                    );
                } else if !non_negative(value) {
                    self.fail(line, "a bucket count >= 0", format!("{value}"));
                }
            }
            MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary
                if suffix == "_count" || suffix == "_gcount" =>
            {
                if !non_negative(value) {
                    self.fail(line, "a count >= 0", format!("{value}"));
                }
                if ty != MetricType::Summary {
                    key.clear();
                    labels.key_into("", key);
                    let hist = &mut self.cur.hist;
                    let (i, _) = hist.entry(key);
                    hist.entries[i].value.count = Some(value);
                }
            }
            MetricType::Summary if suffix.is_empty() => {
                let Some(q) = labels.get("quantile") else {
                    self.fail(line, "a quantile label on a summary sample", "none");
                    return;
                };
                match parse_go_float(q) {
                    Some(v) if (0.0..=1.0).contains(&v) => {}
                    _ => {
                        let found = format!("{:?}", String::from_utf8_lossy(q));
                        self.fail(line, "a quantile between 0 and 1", found);
                    }
                }
            }
            MetricType::Stateset => {
                if value != 0.0 && value != 1.0 {
                    self.fail(line, "a stateset value of 0 or 1", format!("{value}"));
                } else if labels.get(&self.cur.name).is_none() {
                    let expected =
                        format!("a label named {:?} on a stateset sample", self.cur.name);
                    self.fail(line, expected, "none");
                }
            }
            MetricType::Info if value != 1.0 => {
                self.fail(line, "an info value of 1", format!("{value}"));
            }
            _ => {}
        }
        if let Some(ex) = s.as_text().and_then(|t| t.exemplar) {
            let allowed = (ty == MetricType::Counter && suffix == "_total")
                || (matches!(ty, MetricType::Histogram | MetricType::GaugeHistogram)
                    && suffix == "_bucket");
            if !allowed {
                let found = format!("one on {}", full_name());
                self.fail(
                    line,
                    "exemplars only on counter _total and histogram _bucket samples",
                    found,
                );
                return;
            }
            labels.clear();
            let mut chars = 0;
            for (k, v) in ex.labels() {
                let (k, v) = (k.to_str(), v.to_str());
                chars += k.chars().count() + v.chars().count();
                labels.push(&k, "");
            }
            if chars > 128 {
                self.fail(
                    line,
                    "exemplar labels of at most 128 UTF-8 characters",
                    format!("{chars} characters"),
                );
            }
            labels.sort();
            if labels.repeated_name().is_some() {
                self.fail(line, "distinct exemplar label names", "a repeated name");
            }
        }
    }
}
