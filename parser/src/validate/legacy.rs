//! The validator as it was before series were found by hashing label pairs
//! in place: it sorts every sample's labels and builds a byte key per
//! series. Kept, for tests only, as the oracle the current validator must
//! agree with on every body (same counts, same first error).
//!
//! What the rework left as it was is shared rather than copied: the
//! suffix tables, how an error is built and how a histogram group's end
//! is checked and reported. So are the OpenMetrics rules
//! ([`super::openmetrics`]); how a sample's Metric and series are found
//! again, and which family a name belongs to, is this module's own.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::keys::HashIsKey;
use super::openmetrics::{
    CLASH, ExemplarFacts, PointSample, Points, Violation, clash_found, exemplar_rule,
    family_name_rule, help_rule, label_names_rule, name_rule, point_labels_rule, sample_suffixes,
    unit_rule,
};
use super::{HistGroup, RESERVED_SUFFIXES, ValidationReport, allowed_suffixes, spec_error};
use crate::error::ParseError;
use crate::float::parse_go_float;
use crate::format::Format;
use crate::sample::{SampleRef, SampleVisitor};
use crate::stream::StreamCounter;
use crate::text::{Entry, LabelStr, MetricType};

/// Validates a whole body with the previous implementation.
pub(crate) fn validate(body: &[u8], format: Format) -> ValidationReport {
    let mut counter = StreamCounter::new(format);
    let mut checker = Checker::new(format);
    counter.feed_with(body, &mut checker);
    let counts = counter.finish_with(&mut checker);
    let parse_error = counts.error.clone();
    if parse_error.is_none() {
        checker.close_family();
    }
    let error = match (checker.error.take(), parse_error) {
        (Some(a), Some(b)) => Some(if a.line() <= b.line() { a } else { b }),
        (a, b) => a.or(b),
    };
    ValidationReport { counts, error }
}

/// A set of byte strings (series keys) with a value each: one arena for
/// the bytes, a table from a fast hash to the entries with that hash. Bytes
/// are compared only when hashes are equal, and nothing is allocated per
/// key once the buffers have grown.
#[derive(Debug, Default)]
struct KeyTable<V> {
    bytes: Vec<u8>,
    entries: Vec<KeyEntry<V>>,
    heads: HashMap<u64, usize, BuildHasherDefault<HashIsKey>>,
}

#[derive(Debug)]
struct KeyEntry<V> {
    start: usize,
    len: usize,
    /// The next entry with the same hash (`NO_ENTRY`: none).
    next: usize,
    value: V,
}

const NO_ENTRY: usize = usize::MAX;

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

    /// The entry of the key `build` appends, added if new; `true` when it
    /// was added. The key is written straight into the arena, and taken
    /// back out when it is already there.
    fn entry_with(&mut self, build: impl FnOnce(&mut Vec<u8>)) -> (usize, bool) {
        let start = self.bytes.len();
        build(&mut self.bytes);
        let key = &self.bytes[start..];
        let hash = key_hash(key);
        let head = self.heads.get(&hash).copied().unwrap_or(NO_ENTRY);
        let mut at = head;
        while at != NO_ENTRY {
            let e = &self.entries[at];
            if &self.bytes[e.start..e.start + e.len] == key {
                self.bytes.truncate(start);
                return (at, false);
            }
            at = e.next;
        }
        let len = key.len();
        let index = self.entries.len();
        self.entries.push(KeyEntry {
            start,
            len,
            next: head,
            value: V::default(),
        });
        self.heads.insert(hash, index);
        (index, true)
    }

    fn key(&self, index: usize) -> &[u8] {
        let e = &self.entries[index];
        &self.bytes[e.start..e.start + e.len]
    }
}

/// The labels of one sample, unescaped. Names and values without escapes
/// are spans of the sample's label text; the others are resolved into one
/// reused buffer.
#[derive(Debug, Default)]
struct LabelSet {
    arena: Vec<u8>,
    pairs: Vec<LabelPair>,
}

#[derive(Debug, Clone, Copy)]
struct LabelPair {
    /// The first 8 bytes of the name, big-endian, zero-padded: most name
    /// comparisons end here.
    prefix: u64,
    name: Span,
    value: Span,
}

/// Bytes of the sample's label text, or of [`LabelSet::arena`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    in_arena: bool,
}

/// A [`LabelSet`] with the label text its spans point into.
#[derive(Clone, Copy)]
struct Labeled<'s> {
    set: &'s LabelSet,
    raw: &'s [u8],
}

impl LabelSet {
    fn clear(&mut self) {
        self.arena.clear();
        self.pairs.clear();
    }

    fn arena_span(&mut self, bytes: impl FnOnce(&mut Vec<u8>)) -> Span {
        let start = self.arena.len();
        bytes(&mut self.arena);
        Span {
            start,
            end: self.arena.len(),
            in_arena: true,
        }
    }

    fn add(&mut self, name: Span, value: Span, raw: &[u8]) {
        let bytes = if name.in_arena { &self.arena } else { raw };
        let name_bytes = &bytes[name.start..name.end];
        let mut head = [0u8; 8];
        let n = name_bytes.len().min(8);
        head[..n].copy_from_slice(&name_bytes[..n]);
        self.pairs.push(LabelPair {
            prefix: u64::from_be_bytes(head),
            name,
            value,
        });
    }

    /// A label given as text (protobuf series, exemplars).
    fn push(&mut self, name: &str, value: &str) {
        let n = self.arena_span(|a| a.extend_from_slice(name.as_bytes()));
        let v = self.arena_span(|a| a.extend_from_slice(value.as_bytes()));
        self.add(n, v, &[]);
    }

    /// A text-format label found at these offsets of `raw`.
    fn push_text(
        &mut self,
        raw: &[u8],
        (name_at, name): (usize, LabelStr<'_>),
        (value_at, value): (usize, LabelStr<'_>),
    ) {
        let mut span = |at: usize, s: LabelStr<'_>| {
            if s.needs_unescape() {
                self.arena_span(|a| s.unescape_into(a))
            } else {
                Span {
                    start: at,
                    end: at + s.raw().len(),
                    in_arena: false,
                }
            }
        };
        let n = span(name_at, name);
        let v = span(value_at, value);
        self.add(n, v, raw);
    }

    fn with<'s>(&'s self, raw: &'s [u8]) -> Labeled<'s> {
        Labeled { set: self, raw }
    }
}

impl<'s> Labeled<'s> {
    fn bytes(&self, span: Span) -> &'s [u8] {
        let b = if span.in_arena {
            &self.set.arena
        } else {
            self.raw
        };
        &b[span.start..span.end]
    }

    fn len(&self) -> usize {
        self.set.pairs.len()
    }

    fn name(&self, i: usize) -> &'s [u8] {
        self.bytes(self.set.pairs[i].name)
    }

    fn value(&self, i: usize) -> &'s [u8] {
        self.bytes(self.set.pairs[i].value)
    }

    /// After [`sort`]: the first name that appears twice.
    fn repeated_name(&self) -> Option<&'s [u8]> {
        let pairs = &self.set.pairs;
        (1..self.len())
            .find(|&i| pairs[i - 1].prefix == pairs[i].prefix && self.name(i - 1) == self.name(i))
            .map(|i| self.name(i))
    }

    fn get(&self, name: &[u8]) -> Option<&'s [u8]> {
        (0..self.len())
            .find(|&i| self.name(i) == name)
            .map(|i| self.value(i))
    }

    /// Appends the sorted labels as a key, `name 0xFE value 0xFF` per label
    /// (bytes that UTF-8 text never contains, so no two label sets share a
    /// key). Returns where the pair named `mark` went in `out`, if there is
    /// one, so that the key without it can be cut from this one.
    fn key_into(&self, out: &mut Vec<u8>, mark: &[u8]) -> Option<(usize, usize)> {
        let mut marked = None;
        for i in 0..self.len() {
            let (name, value) = (self.name(i), self.value(i));
            let start = out.len();
            out.extend_from_slice(name);
            out.push(0xFE);
            out.extend_from_slice(value);
            out.push(0xFF);
            if name == mark {
                marked = Some((start, out.len()));
            }
        }
        marked
    }
}

/// Sorts the pairs of `set` by name, then value (as a `(String, String)`
/// list sorts).
fn sort(set: &mut LabelSet, raw: &[u8]) {
    let LabelSet { arena, pairs } = set;
    let bytes = |s: Span| {
        let b: &[u8] = if s.in_arena { arena } else { raw };
        &b[s.start..s.end]
    };
    pairs.sort_unstable_by(|a, b| {
        a.prefix.cmp(&b.prefix).then_with(|| {
            bytes(a.name)
                .cmp(bytes(b.name))
                .then_with(|| bytes(a.value).cmp(bytes(b.value)))
        })
    });
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
    unit: bool,
    samples: u64,
    last_line: u64,
    /// Series keys and (OpenMetrics) the MetricPoint each was last seen in.
    series: KeyTable<u64>,
    hist: KeyTable<HistGroup>,
    /// OpenMetrics: each Metric's key (its sorted labels without the one
    /// its MetricPoint adds), the one being read and its MetricPoints.
    metrics: KeyTable<()>,
    metric: usize,
    points: Points,
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
            unit: false,
            samples: 0,
            last_line: 0,
            series: KeyTable::default(),
            hist: KeyTable::default(),
            metrics: KeyTable::default(),
            metric: 0,
            points: Points::default(),
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
        self.unit = false;
        self.samples = 0;
        self.last_line = 0;
        self.series.clear();
        self.hist.clear();
        self.metrics.clear();
        self.metric = 0;
        self.points.reset();
    }
}

/// Whether `suffix` is one of `list`.
fn has_suffix(list: &[&str], suffix: &str) -> bool {
    list.contains(&suffix)
}

#[derive(Debug)]
struct Checker {
    format: Format,
    error: Option<ParseError>,
    /// The family being read (`open` says whether there is one); its
    /// buffers are reused by the next family.
    cur: Family,
    open: bool,
    /// Each name a family took (its own, and in OpenMetrics its sample
    /// names): the family and whether it is its own name.
    claims: HashMap<String, (String, bool)>,
    /// The type of each family, as known so far.
    types: HashMap<String, MetricType>,
    labels: LabelSet,
    exemplar_names: LabelSet,
}

impl Checker {
    fn new(format: Format) -> Self {
        Self {
            format,
            error: None,
            cur: Family::default(),
            open: false,
            claims: HashMap::new(),
            types: HashMap::new(),
            labels: LabelSet::default(),
            exemplar_names: LabelSet::default(),
        }
    }

    fn fail(&mut self, line: u64, expected: impl Into<String>, found: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(spec_error(self.format, line, expected, found));
        }
    }

    #[allow(clippy::boxed_local, reason = "the rules return what they find boxed")]
    fn violated(&mut self, v: Box<Violation>) {
        self.fail(v.line, v.expected, v.found);
    }

    fn om(&self) -> bool {
        self.format == Format::OpenMetrics
    }

    fn cur(&self) -> Option<&Family> {
        self.open.then_some(&self.cur)
    }

    /// OpenMetrics: ends the Metric being read.
    fn end_metric(&mut self) {
        let f = &mut self.cur;
        let key = || key_text(f.metrics.key(f.metric));
        if let Err(v) = f.points.end(f.ty, f.name.as_bytes(), key) {
            self.violated(v);
        }
    }

    fn close_family(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        if self.om() {
            self.end_metric();
        } else {
            self.end_groups();
        }
    }

    fn end_groups(&mut self) {
        // The first problem in key order, as a report lists them.
        let mut worst: Option<(String, String, String)> = None;
        let f = &self.cur;
        for (i, e) in f.hist.entries.iter().enumerate() {
            if let Some(err) = e.value.end_error(&f.name, || key_text(f.hist.key(i)))
                && worst.as_ref().is_none_or(|w| err.0 < w.0)
            {
                worst = Some(err);
            }
        }
        let line = self.cur.last_line;
        if let Some((_, expected, found)) = worst {
            self.fail(line, expected, found);
        }
    }

    fn open_family(&mut self, line: u64, name: &str, ty: MetricType, declared: bool) {
        self.close_family();
        match self.claims.get(name) {
            Some((_, true)) => self.fail(
                line,
                format!("all of family {name} in one group"),
                "it again after another family (interleaved)",
            ),
            Some((owner, false)) => {
                let found = clash_found(name, owner, self.types.get(owner).copied(), false);
                self.fail(line, CLASH, found);
            }
            None => {}
        }
        if self.om()
            && let Err(v) = family_name_rule(line, name.as_bytes())
        {
            self.violated(v);
        }
        if !self.claims.contains_key(name) {
            self.claims.insert(name.to_owned(), (name.to_owned(), true));
            self.types.insert(name.to_owned(), ty);
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
            if has_suffix(allowed_suffixes(self.format, ty), rest) {
                return;
            }
            // A declared family's own name, or its name and a reserved
            // suffix, belongs to it even when the type does not allow it
            // (in OpenMetrics only its own name: other names start a new
            // family).
            let om = self.format == Format::OpenMetrics;
            if declared && (rest.is_empty() || (!om && has_suffix(&RESERVED_SUFFIXES, rest))) {
                let fam = f.name.clone();
                self.fail(
                    line,
                    format!(
                        "a sample name allowed for {} family {fam} (suffixes {:?})",
                        ty.as_str(),
                        allowed_suffixes(self.format, ty)
                    ),
                    format!("{name:?}"),
                );
                return;
            }
        }
        self.open_family(line, name, MetricType::Unknown, false);
    }
}

impl SampleVisitor for Checker {
    fn metadata(&mut self, line: u64, entry: &Entry<'_>) {
        let (name, kind, quoted) = match entry {
            Entry::Type { name, kind } => (name.to_str(), Some(*kind), name.is_quoted_name()),
            Entry::Help { name, .. } | Entry::Unit { name, .. } => {
                (name.to_str(), None, name.is_quoted_name())
            }
            _ => return,
        };
        if self.om()
            && let Err(v) = name_rule(line, name.as_bytes(), quoted)
        {
            self.violated(v);
            return;
        }
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
        if self.om() {
            self.om_metadata(line, entry);
        }
    }

    fn sample(&mut self, s: &SampleRef<'_>) {
        if self.error.is_some() {
            return;
        }
        let mut labels = std::mem::take(&mut self.labels);
        self.check_sample(s, &mut labels);
        self.labels = labels;
    }
}

impl Checker {
    /// The OpenMetrics rules on a metadata line of the current family.
    fn om_metadata(&mut self, line: u64, entry: &Entry<'_>) {
        let f = &mut self.cur;
        let rule = match *entry {
            Entry::Help { text, .. } => help_rule(line, text),
            Entry::Unit { unit, .. } => {
                f.unit |= !unit.is_empty();
                unit_rule(line, f.ty, f.name.as_bytes(), !unit.is_empty())
            }
            Entry::Type { kind, .. } => unit_rule(line, kind, f.name.as_bytes(), f.unit),
            _ => Ok(()),
        };
        if let Err(v) = rule {
            self.violated(v);
        }
        let Entry::Type { kind, .. } = *entry else {
            return;
        };
        let family = self.cur.name.clone();
        self.types.insert(family.clone(), kind);
        for suffix in sample_suffixes(kind) {
            let name = format!("{family}{suffix}");
            match self.claims.get(&name) {
                None => {
                    self.claims.insert(name, (family.clone(), false));
                }
                Some((other, own)) => {
                    let clash = clash_found(&name, other, self.types.get(other).copied(), *own);
                    let found = format!("{} family {family}'s sample name {clash}", kind.as_str());
                    self.fail(line, CLASH, found);
                }
            }
        }
    }

    /// The spec checks of one sample; `labels` is a scratch buffer, reused
    /// from sample to sample.
    fn check_sample(&mut self, s: &SampleRef<'_>, labels: &mut LabelSet) {
        if self.om() {
            self.check_om_sample(s, labels);
            return;
        }
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

        labels.clear();
        let raw = match s.as_text() {
            Some(t) => {
                let mut pairs = t.labels();
                while let Some((name_at, name, value_at, value)) = pairs.next_at() {
                    labels.push_text(t.labels_raw, (name_at, name), (value_at, value));
                }
                if self.format == Format::Text && pairs.lenient() {
                    self.fail(
                        line,
                        "labels written as name=\"value\" pairs separated by ','",
                        "blanks or a missing ','",
                    );
                    return;
                }
                t.labels_raw
            }
            None => {
                for (k, v) in s.labels() {
                    labels.push(&k, &v);
                }
                &[]
            }
        };
        sort(labels, raw);
        let labels = labels.with(raw);
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
        // Gauges and untyped samples have no rule on their value.
        let value = if matches!(ty, MetricType::Gauge | MetricType::Unknown) {
            0.0
        } else {
            s.value()
        };

        let f = &mut self.cur;
        f.samples += 1;
        f.last_line = line;
        // The series key: name, 0xFF, labels. A histogram's group key (its
        // labels but `le`) is cut from it below.
        let (mut labels_at, mut le_at) = (0, None);
        let (series, new) = f.series.entry_with(|key| {
            let start = key.len();
            key.extend_from_slice(base.as_bytes());
            key.extend_from_slice(proto_suffix.as_bytes());
            key.push(0xFF);
            labels_at = key.len() - start;
            le_at = labels
                .key_into(key, b"le")
                .map(|(a, b)| (a - start - labels_at, b - start - labels_at));
        });
        if !new {
            let key = &f.series.key(series)[labels_at..];
            let again = format!("{}{{{}}} again", full_name(), key_text(key));
            self.fail(line, "each series once", again);
            return;
        }
        // The group of a histogram bucket (without `le`) or `_count`.
        let group = |f: &mut Family, without: Option<(usize, usize)>| {
            let Family {
                series: all, hist, ..
            } = f;
            let key = &all.key(series)[labels_at..];
            let (i, _) = hist.entry_with(|out| match without {
                Some((a, b)) => {
                    out.extend_from_slice(&key[..a]);
                    out.extend_from_slice(&key[b..]);
                }
                None => out.extend_from_slice(key),
            });
            i
        };
        let non_negative = |v: f64| v >= 0.0;
        match ty {
            MetricType::Counter if suffix != "_created" && !non_negative(value) => {
                self.fail(line, "a counter value >= 0", format!("{value}"));
            }
            MetricType::Histogram | MetricType::GaugeHistogram if suffix == "_bucket" => {
                let Some(le) = labels.get(b"le") else {
                    self.fail(line, "an le label on a histogram bucket", "none");
                    return;
                };
                let le = String::from_utf8_lossy(le);
                let Some(le_v) = parse_go_float(le.as_bytes()).filter(|v| !v.is_nan()) else {
                    let found = format!("{le:?}");
                    self.fail(line, "a float le value", found);
                    return;
                };
                let i = group(&mut self.cur, le_at);
                let g = &mut self.cur.hist.entries[i].value;
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
                    let i = group(&mut self.cur, None);
                    self.cur.hist.entries[i].value.count = Some(value);
                }
            }
            MetricType::Summary if suffix.is_empty() => {
                let Some(q) = labels.get(b"quantile") else {
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
                } else if labels.get(self.cur.name.as_bytes()).is_none() {
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
    }

    /// The OpenMetrics checks of one sample, in the order the validator
    /// makes them (see its `check_om_sample`).
    fn check_om_sample(&mut self, s: &SampleRef<'_>, labels: &mut LabelSet) {
        let Some(t) = s.as_text() else {
            return;
        };
        let line = s.position();
        let name = t.name.to_str();
        if let Err(v) = name_rule(line, name.as_bytes(), t.name.is_quoted_name()) {
            return self.violated(v);
        }
        self.family_of(line, &name, None);
        if self.error.is_some() || !self.open {
            return;
        }
        let ty = self.cur.ty;
        let family = self.cur.name.clone();
        let suffix = name.strip_prefix(family.as_str()).unwrap_or("");
        let raw = t.labels_raw;
        labels.clear();
        let mut quoted = false;
        let mut pairs = t.labels();
        while let Some((name_at, n, value_at, v)) = pairs.next_at() {
            quoted |= name_at > 0 && raw[name_at - 1] == b'"';
            labels.push_text(raw, (name_at, n), (value_at, v));
        }
        if let Err(v) = label_names_rule(line, quoted, false) {
            return self.violated(v);
        }
        sort(labels, raw);
        let labels = labels.with(raw);
        if let Some(n) = labels.repeated_name() {
            let twice = format!("label {:?} twice", String::from_utf8_lossy(n));
            return self.fail(line, "distinct label names", twice);
        }
        if let Some(i) = (0..labels.len()).find(|&i| labels.name(i).starts_with(b"__")) {
            let found = format!("{:?}", String::from_utf8_lossy(labels.name(i)));
            return self.fail(
                line,
                "label names not starting with \"__\" (reserved)",
                found,
            );
        }

        let bucket =
            matches!(ty, MetricType::Histogram | MetricType::GaugeHistogram) && suffix == "_bucket";
        let cut: Option<&[u8]> = match ty {
            _ if bucket => Some(b"le"),
            MetricType::Summary if suffix.is_empty() => Some(b"quantile"),
            MetricType::Stateset => Some(family.as_bytes()),
            _ => None,
        };
        let le_text = labels.get(b"le");
        let state = (ty == MetricType::Stateset).then(|| labels.get(family.as_bytes()).is_some());
        let le = match point_labels_rule(
            line,
            ty,
            suffix.as_bytes(),
            (family.as_bytes(), name.as_bytes()),
            le_text,
            labels.get(b"quantile"),
            state,
        ) {
            Ok(le) => le,
            Err(v) => return self.violated(v),
        };

        // The Metric: the sorted labels without the cut pair.
        let f = &mut self.cur;
        let (metric, new) = f.metrics.entry_with(|out| {
            let cut_at = labels.key_into(out, cut.unwrap_or_default());
            if let (Some(_), Some((a, b))) = (cut, cut_at) {
                out.drain(a..b);
            }
        });
        f.samples += 1;
        f.last_line = line;
        let ts = t.timestamp_raw;
        let prev = f.metric;
        if f.points.is_open() && prev == metric {
            let key = || key_text(f.metrics.key(prev));
            if let Err(v) = f.points.next(line, ty, family.as_bytes(), ts, key) {
                return self.violated(v);
            }
        } else {
            let key = || key_text(f.metrics.key(prev));
            if let Err(v) = f.points.end(ty, family.as_bytes(), key) {
                return self.violated(v);
            }
            if !new {
                let found = format!(
                    "{family}{{{}}} again after another label set",
                    key_text(f.metrics.key(metric))
                );
                return self.fail(
                    line,
                    "all samples of a Metric together (Metrics are not interleaved)",
                    found,
                );
            }
            f.points.start(ts);
            f.metric = metric;
        }

        // The series, once in a MetricPoint.
        let mut labels_at = 0;
        let (series, new) = f.series.entry_with(|key| {
            let start = key.len();
            key.extend_from_slice(name.as_bytes());
            key.push(0xFF);
            labels_at = key.len() - start;
            labels.key_into(key, b"");
        });
        let id = f.points.id();
        let seen = &mut f.series.entries[series].value;
        let twice = !new && *seen == id;
        *seen = id;
        if twice {
            let key = &f.series.key(series)[labels_at..];
            let again = format!("{name}{{{}}} again", key_text(key));
            return self.fail(
                line,
                "each series once in a MetricPoint (again only in a later one, with a greater timestamp)",
                again,
            );
        }

        let value = match ty {
            MetricType::Gauge | MetricType::Unknown => 0.0,
            _ => s.value(),
        };
        let point_sample = PointSample {
            line,
            ty,
            suffix: suffix.as_bytes(),
            value,
            le: le.map(|v| (le_text.unwrap_or_default(), v)),
        };
        if let Err(v) = f.points.sample(&point_sample) {
            return self.violated(v);
        }

        let Some(ex) = t.exemplar else {
            return;
        };
        let mut names = std::mem::take(&mut self.exemplar_names);
        names.clear();
        let (mut chars, mut quoted) = (0, false);
        let mut pairs = ex.labels();
        while let Some((name_at, k, _, v)) = pairs.next_at() {
            quoted |= name_at > 0 && ex.labels_raw[name_at - 1] == b'"';
            let (k, v) = (k.to_str(), v.to_str());
            chars += k.chars().count() + v.chars().count();
            names.push(&k, "");
        }
        sort(&mut names, &[]);
        let sorted = names.with(&[]);
        let reserved = (0..sorted.len())
            .map(|i| sorted.name(i))
            .find(|n| n.starts_with(b"__"));
        let facts = ExemplarFacts {
            quoted,
            chars,
            repeated: sorted.repeated_name().is_some(),
            reserved,
            value: ex.value(),
        };
        let rule = exemplar_rule(line, ty, suffix.as_bytes(), name.as_bytes(), le, &facts);
        self.exemplar_names = names;
        if let Err(v) = rule {
            self.violated(v);
        }
    }
}
