//! The strict validator behind `promshard check metrics`: the parse rules
//! of the counting path plus the specifications' rules (see the crate docs,
//! "Counting vs validating", for the list).
//!
//! # How series are found again
//!
//! The same series twice is an error, and a histogram's buckets are checked
//! per group (its labels but `le`), so every series of the family being
//! read is remembered. A sample's labels are read once, each pair hashed
//! on the way; the sum of the pair hashes identifies the label set whatever
//! the pairs' order, so labels are never sorted nor copied into a key to
//! be looked up. A series is stored as its label text as written, and is
//! compared with a sample only when their hashes are equal: byte for byte
//! first (the usual case of a repeated series or bucket group written the
//! same way), pair by pair in sorted order when the bytes differ (other
//! order, escapes, quoted names). A group's `le` pair is cut out of the
//! text, and its hash subtracted from the sum; a bucket is not stored as a
//! series but found again through its group and its `le`. Stored texts are
//! dropped when the family ends (their buffers serve the next family).
//!
//! In OpenMetrics every sample has a group: its Metric, whose labels are
//! the sample's but the one its MetricPoint adds (`le`, `quantile` or a
//! state's label). Metrics are not interleaved, so only the one being read
//! has a state (its MetricPoints, `openmetrics::Points`), and the series
//! of a MetricPoint differ by their suffix, their `le` or (stored as
//! series, tagged with the MetricPoint) their quantile or state. The rules
//! themselves are in `openmetrics`, shared with the test oracle.

mod keys;
mod labels;
#[cfg(test)]
mod legacy;
mod openmetrics;
#[cfg(test)]
mod tests;

use self::keys::{KeyTable, is_concat, name_hash, same_bytes, set_hash};
use self::labels::{LabelSet, plain_exemplar, write_pair};
use self::openmetrics::{
    CLASH, ExemplarFacts, PointSample, Points, Violation, clash_found, exemplar_rule,
    family_name_rule, help_rule, label_names_rule, name_rule, point_labels_rule, sample_suffixes,
    unit_rule,
};
use crate::count::Counts;
use crate::decode::{DecodingCounter, Encoding};
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
    input: Input,
    checker: Checker,
    scratch: Scratch,
}

/// What turns the fed bytes into samples.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per validator, which is larger than either"
)]
enum Input {
    Plain(StreamCounter),
    /// A compressed body: decoded as it is fed, in bounded memory.
    Decoded(DecodingCounter),
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
            input: Input::Plain(counter),
            checker: Checker::new(format),
            scratch: Scratch::default(),
        }
    }

    /// A validator for a body in `format` compressed with `encoding`
    /// (decoded by a [`DecodingCounter`] as it is fed, so memory stays
    /// bounded whatever the body's size). A corrupt or truncated compressed
    /// stream is the report's error, with the compressed byte where it
    /// was found.
    ///
    /// ```
    /// use std::io::Write;
    /// use promshard_parser::{Encoding, Format, Validator};
    /// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    /// gz.write_all(b"a 1\nb 2\na 3\n").unwrap();
    /// let body = gz.finish().unwrap();
    /// let mut v = Validator::with_encoding(Format::Text, Encoding::Gzip);
    /// v.feed(&body);
    /// let err = v.finish().error.unwrap().to_string();
    /// assert!(err.starts_with("line 3, column 1: expected all of family a"), "{err}");
    ///
    /// let mut v = Validator::with_encoding(Format::Text, Encoding::Gzip);
    /// v.feed(&body[..body.len() - 3]);
    /// let err = v.finish().error.unwrap().to_string();
    /// assert!(err.contains("a truncated gzip trailer"), "{err}");
    /// ```
    pub fn with_encoding(format: Format, encoding: Encoding) -> Self {
        Self {
            input: Input::Decoded(DecodingCounter::new(format, encoding)),
            checker: Checker::new(format),
            scratch: Scratch::default(),
        }
    }

    /// A validator whose table hashes keep only the bits of `mask`, so
    /// that tests can make distinct series share a hash.
    #[cfg(test)]
    fn with_hash_mask(format: Format, mask: u64) -> Self {
        let mut v = Self::new(format);
        v.checker.hash_mask = mask;
        v
    }

    /// Validates the next chunk.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut visit = Visit {
            checker: &mut self.checker,
            scratch: &mut self.scratch,
        };
        match &mut self.input {
            Input::Plain(counter) => counter.feed_with(chunk, &mut visit),
            Input::Decoded(decoder) => decoder.feed_with(chunk, &mut visit),
        }
    }

    /// Ends the body.
    pub fn finish(mut self) -> ValidationReport {
        let mut visit = Visit {
            checker: &mut self.checker,
            scratch: &mut self.scratch,
        };
        let (counts, decode_error) = match self.input {
            Input::Plain(counter) => (counter.finish_with(&mut visit), None),
            Input::Decoded(decoder) => decoder.finish_decoding_with(&mut visit),
        };
        let parse_error = counts.error.clone();
        if parse_error.is_none() {
            self.checker.close_family();
        }
        let error = match (self.checker.error.take(), parse_error) {
            (Some(a), Some(b)) => Some(if a.line() <= b.line() { a } else { b }),
            (a, b) => a.or(b),
        };
        // A broken compressed stream is the problem to report: what it cut
        // short (a partial last line, a missing `# EOF`) follows from it.
        let error = decode_error.or(error);
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

impl HistGroup {
    /// The group's error once its family `family` has ended, if it has
    /// one: buckets without `le="+Inf"`, or a `_count` other than the
    /// `+Inf` bucket. `(key, expected, found)`, where `key` (the group's
    /// labels as a message writes them) is asked for only then.
    fn end_error(
        &self,
        family: &str,
        key: impl FnOnce() -> String,
    ) -> Option<(String, String, String)> {
        if self.last_le.is_some() && self.inf.is_none() {
            let key = key();
            let expected = format!("a le=\"+Inf\" bucket in histogram {family}{{{key}}}");
            return Some((key, expected, "none".to_owned()));
        }
        match (self.inf, self.count) {
            (Some(inf), Some(count)) if inf != count && !(inf.is_nan() && count.is_nan()) => {
                let key = key();
                let expected = format!("{family}_count{{{key}}} equal to its +Inf bucket ({inf})");
                Some((key, expected, format!("{count}")))
            }
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Family {
    name: Vec<u8>,
    ty: MetricType,
    declared: bool,
    has_type: bool,
    has_help: bool,
    has_unit: bool,
    /// Whether a `# UNIT` line gave a unit (not empty).
    unit: bool,
    /// Its entry in [`Checker::claims`].
    claim: usize,
    samples: u64,
    last_line: u64,
    /// Each series but histogram buckets: its name's suffix, 0xFF and its
    /// label text, and (OpenMetrics) the MetricPoint it was last seen in.
    /// OpenMetrics stores only quantiles and states here: other series
    /// of a MetricPoint differ by their suffix ([`Points::seen_twice`]).
    series: KeyTable<u64>,
    /// Each histogram group (text, protobuf) or each Metric (OpenMetrics):
    /// the label text of its first sample, without the label its
    /// MetricPoint adds (`le`, and in OpenMetrics `quantile` or the state
    /// label). The value is a histogram group's state; OpenMetrics keeps
    /// the state of the Metric being read in `points`.
    groups: KeyTable<HistGroup>,
    /// The group of the last sample that had one, and its hash: the next
    /// sample is usually in it.
    last_group: Option<(u64, usize)>,
    /// OpenMetrics: the Metric being read ([`Family::metric`]: its group).
    points: Points,
    metric: usize,
    /// The `le` of each bucket: its group and where its bytes end in
    /// `le_bytes`. A bucket is the same series as an earlier one exactly
    /// when it has the group and the `le` of that one, which is only looked
    /// up when its `le` is not above the group's last.
    les: Vec<(usize, usize)>,
    le_bytes: Vec<u8>,
}

impl Default for Family {
    fn default() -> Self {
        Self {
            name: Vec::new(),
            ty: MetricType::Unknown,
            declared: false,
            has_type: false,
            has_help: false,
            has_unit: false,
            unit: false,
            claim: 0,
            samples: 0,
            last_line: 0,
            series: KeyTable::default(),
            groups: KeyTable::default(),
            last_group: None,
            points: Points::default(),
            metric: 0,
            les: Vec::new(),
            le_bytes: Vec::new(),
        }
    }
}

impl Family {
    /// Starts family `name`, reusing the buffers of `self`.
    fn reset(&mut self, name: &[u8], ty: MetricType, declared: bool, claim: usize) {
        self.name.clear();
        self.name.extend_from_slice(name);
        self.ty = ty;
        self.declared = declared;
        self.has_type = false;
        self.has_help = false;
        self.has_unit = false;
        self.unit = false;
        self.claim = claim;
        self.samples = 0;
        self.last_line = 0;
        self.series.clear();
        self.groups.clear();
        self.last_group = None;
        self.points.reset();
        self.les.clear();
        self.le_bytes.clear();
    }

    /// The name as text, for messages.
    fn text_name(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }

    /// Whether a bucket of `group` had this `le` (unescaped).
    fn had_le(&self, group: usize, le: &[u8]) -> bool {
        let mut start = 0;
        self.les.iter().any(|&(g, end)| {
            let seen = &self.le_bytes[start..end];
            start = end;
            g == group && same_bytes(seen, le)
        })
    }
}

const RESERVED_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];

/// `name` without its start `prefix`, if it starts so.
#[inline]
fn strip_prefix<'n>(name: &'n [u8], prefix: &[u8]) -> Option<&'n [u8]> {
    let (head, rest) = name.split_at_checked(prefix.len())?;
    same_bytes(head, prefix).then_some(rest)
}

/// Whether `suffix` is one of `list`.
fn has_suffix(list: &[&str], suffix: &[u8]) -> bool {
    list.iter().any(|s| same_bytes(s.as_bytes(), suffix))
}

/// The name suffixes a family of type `ty` allows in `format`.
fn allowed_suffixes(format: Format, ty: MetricType) -> &'static [&'static str] {
    let om = format == Format::OpenMetrics;
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

/// A specification error at `line` (a message, for protobuf).
fn spec_error(
    format: Format,
    line: u64,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> ParseError {
    match format {
        Format::Protobuf => ParseError::at_message(line, 0, expected, found),
        _ => ParseError::at_line(line, 1, expected, found),
    }
}

/// Buffers reused from sample to sample.
#[derive(Debug, Default)]
struct Scratch {
    /// The sample's labels and an exemplar's.
    labels: LabelSet,
    exemplar: LabelSet,
    /// The label text written for a protobuf series.
    proto_text: Vec<u8>,
    /// A quoted metric name with its escapes resolved.
    name: Vec<u8>,
}

/// What the counter shows each sample and metadata line to.
struct Visit<'v> {
    checker: &'v mut Checker,
    scratch: &'v mut Scratch,
}

/// A name a family takes: its own, or (OpenMetrics) one of its sample
/// names, which no other family's name may be.
#[derive(Debug, Default, Clone, Copy)]
struct Claim {
    /// The entry of the family's own name.
    owner: usize,
    /// Whether this is the family's own name.
    own: bool,
    /// The family's type (on the entry of its own name).
    ty: Option<MetricType>,
}

#[derive(Debug)]
struct Checker {
    format: Format,
    error: Option<ParseError>,
    /// The family being read (`open` says whether there is one); its
    /// buffers are reused by the next family.
    cur: Family,
    open: bool,
    /// The names of the families read so far and (OpenMetrics) the sample
    /// names their types give them.
    claims: KeyTable<Claim>,
    /// The labels of a stored key, when one is compared or reported.
    stored: LabelSet,
    /// Bits of the table hashes kept (all but in tests).
    hash_mask: u64,
    /// `le` values of up to 8 bytes lately read, by a hash of their bytes:
    /// their bytes (zero-padded), length + 1 (0: empty slot) and value.
    le_cache: [(u64, usize, Option<f64>); 16],
}

impl Checker {
    fn new(format: Format) -> Self {
        Self {
            format,
            error: None,
            cur: Family::default(),
            open: false,
            claims: KeyTable::default(),
            stored: LabelSet::default(),
            hash_mask: u64::MAX,
            le_cache: [(0, 0, None); 16],
        }
    }

    /// The value of a bucket's `le` (`None` unless a float other than
    /// NaN). Buckets repeat the same few bounds, so they are remembered.
    #[inline]
    fn le_value(&mut self, le: &[u8]) -> Option<f64> {
        let parse = |le: &[u8]| parse_go_float(le).filter(|v| !v.is_nan());
        if le.len() > 8 {
            return parse(le);
        }
        let mut word = [0u8; 8];
        for (w, &b) in word.iter_mut().zip(le) {
            *w = b;
        }
        let key = u64::from_le_bytes(word);
        let slot =
            usize::from(u8::try_from(key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60).unwrap_or(0));
        let entry = &mut self.le_cache[slot];
        if entry.0 == key && entry.1 == le.len() + 1 {
            return entry.2;
        }
        let value = parse(le);
        *entry = (key, le.len() + 1, value);
        value
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

    /// Text and protobuf: the rules on each histogram group once its
    /// family has ended.
    fn end_groups(&mut self) {
        // The first problem in key order, as a report lists them.
        let mut worst: Option<(String, String, String)> = None;
        let f = &self.cur;
        let family = f.text_name();
        for (stored, g) in f.groups.iter() {
            let key = || {
                self.stored.read(stored);
                self.stored.key_text(stored, None)
            };
            if let Some(e) = g.end_error(&family, key)
                && worst.as_ref().is_none_or(|w| e.0 < w.0)
            {
                worst = Some(e);
            }
        }
        let line = self.cur.last_line;
        if let Some((_, expected, found)) = worst {
            self.fail(line, expected, found);
        }
    }

    /// OpenMetrics: ends the Metric being read, with the rules on its last
    /// MetricPoint.
    fn end_metric(&mut self) {
        let f = &mut self.cur;
        let (family, groups, metric, stored) = (&f.name, &f.groups, f.metric, &mut self.stored);
        let key = || {
            let k = groups.key(metric);
            stored.read(k);
            stored.key_text(k, None)
        };
        if let Err(v) = f.points.end(f.ty, family, key) {
            self.violated(v);
        }
    }

    /// The family that owns the name claimed at entry `i`, and its type.
    fn claim_owner(&self, i: usize) -> (String, Option<MetricType>, bool) {
        let c = *self.claims.value(i);
        let owner = String::from_utf8_lossy(self.claims.key(c.owner)).into_owned();
        (owner, self.claims.value(c.owner).ty, c.own)
    }

    fn open_family(&mut self, line: u64, name: &[u8], ty: MetricType, declared: bool) {
        self.close_family();
        let hash = name_hash(name);
        if let Some(i) = self.claims.find(hash, |seen| same_bytes(seen, name)) {
            let (owner, owner_ty, own) = self.claim_owner(i);
            let name = String::from_utf8_lossy(name);
            if own {
                self.fail(
                    line,
                    format!("all of family {name} in one group"),
                    "it again after another family (interleaved)",
                );
            } else {
                self.fail(line, CLASH, clash_found(&name, &owner, owner_ty, false));
            }
        }
        if self.om()
            && let Err(v) = family_name_rule(line, name)
        {
            self.violated(v);
        }
        let (claim, new) = self.claims.find_or_add(
            hash,
            |seen| same_bytes(seen, name),
            |out| out.extend_from_slice(name),
        );
        if new {
            *self.claims.value_mut(claim) = Claim {
                owner: claim,
                own: true,
                ty: Some(ty),
            };
        }
        self.cur.reset(name, ty, declared, claim);
        self.open = true;
    }

    /// OpenMetrics: claims the sample names a family of type `ty` has.
    fn claim_sample_names(&mut self, line: u64, ty: MetricType) {
        let owner = self.cur.claim;
        self.claims.value_mut(owner).ty = Some(ty);
        let mut full = Vec::new();
        for suffix in sample_suffixes(ty) {
            full.clear();
            full.extend_from_slice(&self.cur.name);
            full.extend_from_slice(suffix.as_bytes());
            let (i, new) = self.claims.find_or_add(
                name_hash(&full),
                |seen| same_bytes(seen, &full),
                |out| out.extend_from_slice(&full),
            );
            if new {
                *self.claims.value_mut(i) = Claim {
                    owner,
                    own: false,
                    ty: None,
                };
            } else {
                let (other, other_ty, own) = self.claim_owner(i);
                let name = String::from_utf8_lossy(&full);
                let found = format!(
                    "{} family {}'s sample name {}",
                    ty.as_str(),
                    self.cur.text_name(),
                    clash_found(&name, &other, other_ty, own)
                );
                self.fail(line, CLASH, found);
            }
        }
    }

    /// Finds the family of a sample named `name` (the family name, for a
    /// protobuf series of type `proto_type`), opening it if new.
    #[inline(always)]
    fn family_of(&mut self, line: u64, name: &[u8], proto_type: Option<MetricType>) {
        if let Some(ty) = proto_type {
            if self.cur().is_none_or(|f| !same_bytes(&f.name, name)) {
                self.open_family(line, name, ty, true);
            }
            return;
        }
        if let Some(f) = self.cur()
            && let Some(rest) = strip_prefix(name, &f.name)
        {
            let (ty, declared) = (f.ty, f.declared);
            if has_suffix(allowed_suffixes(self.format, ty), rest) {
                return;
            }
            // A declared family's own name, or its name and a reserved
            // suffix, belongs to it even when the type does not allow it.
            // OpenMetrics starts a family at a name the one before cannot
            // have (a name clashing with it is an error there too).
            let clash = rest.is_empty()
                || (self.format != Format::OpenMetrics && has_suffix(&RESERVED_SUFFIXES, rest));
            if declared && clash {
                let fam = f.text_name().into_owned();
                self.fail(
                    line,
                    format!(
                        "a sample name allowed for {} family {fam} (suffixes {:?})",
                        ty.as_str(),
                        allowed_suffixes(self.format, ty)
                    ),
                    format!("{:?}", String::from_utf8_lossy(name)),
                );
                return;
            }
        }
        self.open_family(line, name, MetricType::Unknown, false);
    }

    /// A `# TYPE`, `# HELP` or `# UNIT` line for the family `name`.
    fn metadata(&mut self, line: u64, entry: &Entry<'_>, name: &[u8], quoted: bool) {
        if self.om()
            && let Err(v) = name_rule(line, name, quoted)
        {
            self.violated(v);
            return;
        }
        let kind = match entry {
            Entry::Type { kind, .. } => Some(*kind),
            _ => None,
        };
        let is_type = matches!(entry, Entry::Type { .. });
        let is_help = matches!(entry, Entry::Help { .. });
        if self.cur().is_none_or(|f| !same_bytes(&f.name, name)) {
            self.open_family(line, name, kind.unwrap_or(MetricType::Unknown), true);
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
        let name = || String::from_utf8_lossy(name);
        if samples > 0 {
            self.fail(
                line,
                format!("# {what} {} before the family's samples", name()),
                "it after them",
            );
        } else if dup {
            self.fail(
                line,
                format!("one # {what} line for {}", name()),
                "a second one",
            );
        }
        if self.om() {
            self.om_metadata(line, entry);
        }
    }

    /// The OpenMetrics rules on a metadata line of the current family: HELP
    /// text as the ABNF writes it, no unit on info and stateset families,
    /// and the sample names a TYPE gives the family.
    fn om_metadata(&mut self, line: u64, entry: &Entry<'_>) {
        let f = &mut self.cur;
        let rule = match *entry {
            Entry::Help { text, .. } => help_rule(line, text),
            Entry::Unit { unit, .. } => {
                f.unit |= !unit.is_empty();
                unit_rule(line, f.ty, &f.name, !unit.is_empty())
            }
            Entry::Type { kind, .. } => unit_rule(line, kind, &f.name, f.unit),
            _ => Ok(()),
        };
        if let Err(v) = rule {
            self.violated(v);
        }
        if let Entry::Type { kind, .. } = *entry {
            self.claim_sample_names(line, kind);
        }
    }
}

impl SampleVisitor for Visit<'_> {
    fn metadata(&mut self, line: u64, entry: &Entry<'_>) {
        let (Entry::Type { name, .. } | Entry::Help { name, .. } | Entry::Unit { name, .. }) =
            entry
        else {
            return;
        };
        let quoted = name.is_quoted_name();
        let name = unescaped(*name, &mut self.scratch.name);
        self.checker.metadata(line, entry, name, quoted);
    }

    fn sample(&mut self, s: &SampleRef<'_>) {
        if self.checker.error.is_some() {
            return;
        }
        let Scratch {
            labels,
            exemplar,
            proto_text,
            name,
        } = &mut *self.scratch;
        match s.as_text() {
            Some(t) => {
                let base = unescaped(t.name, name);
                labels.read(t.labels_raw);
                let sample = Named {
                    sample: s,
                    base,
                    proto_suffix: "",
                    proto_type: None,
                };
                self.checker
                    .check_sample(&sample, labels, exemplar, t.labels_raw);
            }
            None => {
                let (base, proto_suffix) = s.name_parts();
                proto_text.clear();
                for (k, v) in s.labels() {
                    write_pair(proto_text, &k, &v);
                }
                labels.read(proto_text);
                let sample = Named {
                    sample: s,
                    base: base.as_bytes(),
                    proto_suffix,
                    proto_type: s.family_type(),
                };
                self.checker
                    .check_sample(&sample, labels, exemplar, proto_text);
            }
        }
    }
}

/// The bytes of `s` with its escapes resolved: its own, or (when it has
/// escapes) `buf`'s.
#[inline]
fn unescaped<'b>(s: LabelStr<'b>, buf: &'b mut Vec<u8>) -> &'b [u8] {
    if s.needs_unescape() {
        buf.clear();
        s.unescape_into(buf);
        buf
    } else {
        s.raw()
    }
}

/// A sample and its name: the whole name (text formats), or the family
/// name, the series' suffix and the family type (protobuf).
struct Named<'n, 's> {
    sample: &'n SampleRef<'s>,
    base: &'n [u8],
    proto_suffix: &'static str,
    proto_type: Option<MetricType>,
}

impl Checker {
    /// The spec checks of one sample, whose label text `raw` has been read
    /// into `labels`; `exemplar` is a scratch buffer.
    fn check_sample(
        &mut self,
        named: &Named<'_, '_>,
        labels: &mut LabelSet,
        exemplar: &mut LabelSet,
        raw: &[u8],
    ) {
        if self.om() {
            self.check_om_sample(named, labels, exemplar, raw);
            return;
        }
        let s = named.sample;
        let line = s.position();
        let (base, proto_suffix) = (named.base, named.proto_suffix);
        self.family_of(line, base, named.proto_type);
        if self.error.is_some() || !self.open {
            return;
        }
        let ty = self.cur.ty;
        // The sample's name is the family's and this suffix.
        let suffix: &[u8] = if named.proto_type.is_some() {
            proto_suffix.as_bytes()
        } else {
            strip_prefix(base, &self.cur.name).unwrap_or(b"")
        };
        let full_name = || format!("{}{proto_suffix}", String::from_utf8_lossy(base));

        if self.format == Format::Text && labels.lenient {
            self.fail(
                line,
                "labels written as name=\"value\" pairs separated by ','",
                "blanks or a missing ','",
            );
            return;
        }
        if let Some(name) = labels.repeated_name(raw) {
            let twice = format!("label {:?} twice", String::from_utf8_lossy(&name));
            self.fail(line, "distinct label names", twice);
            return;
        }
        if let Some(name) = labels.reserved_name(raw) {
            let found = format!("{:?}", String::from_utf8_lossy(name));
            self.fail(
                line,
                "label names not starting with \"__\" (reserved)",
                found,
            );
            return;
        }
        // The value is converted only for the rules below that read it;
        // a counter's written with a digit first is >= 0 as it stands.
        let needs_value = match ty {
            MetricType::Gauge | MetricType::Unknown => false,
            MetricType::Counter => {
                let digit_first = s
                    .as_text()
                    .is_some_and(|t| t.value_raw.first().is_some_and(u8::is_ascii_digit));
                suffix != b"_created" && !digit_first
            }
            MetricType::Histogram | MetricType::GaugeHistogram | MetricType::Summary => {
                matches!(suffix, b"_bucket" | b"_count" | b"_gcount")
            }
            MetricType::Stateset | MetricType::Info => true,
        };
        let value = if needs_value { s.value() } else { 0.0 };

        let mask = self.hash_mask;
        let f = &mut self.cur;
        f.samples += 1;
        f.last_line = line;
        let bucket = matches!(ty, MetricType::Histogram | MetricType::GaugeHistogram)
            && suffix == b"_bucket";
        let stored_labels = &mut self.stored;
        let hash = set_hash(labels.sum(), suffix) & mask;
        // A bucket is found again through its group (below).
        let (_, new) = if bucket {
            (0, true)
        } else {
            f.series.find_or_add(
                hash,
                |stored| {
                    is_concat(stored, &[suffix, &[0xFF], raw])
                        || same_series(stored, suffix, labels, raw, stored_labels)
                },
                |out| {
                    out.extend_from_slice(suffix);
                    out.push(0xFF);
                    out.extend_from_slice(raw);
                },
            )
        };
        if !new {
            let again = format!("{}{{{}}} again", full_name(), labels.key_text(raw, None));
            self.fail(line, "each series once", again);
            return;
        }
        let non_negative = |v: f64| v >= 0.0;
        match ty {
            MetricType::Counter if suffix != b"_created" && !non_negative(value) => {
                self.fail(line, "a counter value >= 0", format!("{value}"));
            }
            MetricType::Histogram | MetricType::GaugeHistogram if suffix == b"_bucket" => {
                let Some(le_at) = labels.le else {
                    self.fail(line, "an le label on a histogram bucket", "none");
                    return;
                };
                let le_text = |labels: &LabelSet| {
                    String::from_utf8_lossy(labels.value(raw, le_at)).into_owned()
                };
                let le_v = self.le_value(labels.value(raw, le_at));
                let Some(le_v) = le_v else {
                    let found = format!("{:?}", le_text(labels));
                    self.fail(line, "a float le value", found);
                    return;
                };
                let (i, _) = self.group(labels, raw, Some(le_at));
                let f = &mut self.cur;
                let g = f.groups.value_mut(i);
                let (prev, prev_value) = (g.last_le, g.last_value);
                g.last_le = Some(le_v);
                g.last_value = value;
                if le_v == f64::INFINITY {
                    g.inf = Some(value);
                }
                // Every `le` of the group so far was above the one before,
                // so one not above the last can be the same series again.
                let not_above = prev.is_some_and(|p| le_v <= p);
                if not_above && f.had_le(i, labels.value(raw, le_at)) {
                    let again = format!("{}{{{}}} again", full_name(), labels.key_text(raw, None));
                    self.fail(line, "each series once", again);
                    return;
                }
                f.le_bytes.extend_from_slice(labels.value(raw, le_at));
                f.les.push((i, f.le_bytes.len()));
                if not_above {
                    let le = le_text(labels);
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
                if suffix == b"_count" || suffix == b"_gcount" =>
            {
                if !non_negative(value) {
                    self.fail(line, "a count >= 0", format!("{value}"));
                }
                if ty != MetricType::Summary {
                    let (i, _) = self.group(labels, raw, None);
                    self.cur.groups.value_mut(i).count = Some(value);
                }
            }
            MetricType::Summary if suffix.is_empty() => {
                let Some(q) = labels.quantile.map(|i| labels.value(raw, i)) else {
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
                } else if labels.get(raw, &self.cur.name[..]).is_none() {
                    let expected = format!(
                        "a label named {:?} on a stateset sample",
                        self.cur.text_name()
                    );
                    self.fail(line, expected, "none");
                }
            }
            MetricType::Info if value != 1.0 => {
                self.fail(line, "an info value of 1", format!("{value}"));
            }
            _ => {}
        }
    }

    /// The OpenMetrics checks of one sample, whose label text `raw` has been
    /// read into `labels`; `exemplar` is a scratch buffer. In order: its
    /// name and family, its labels, the labels its MetricPoint adds, its
    /// Metric and MetricPoint, the series once in it, its value, its
    /// exemplar.
    fn check_om_sample(
        &mut self,
        named: &Named<'_, '_>,
        labels: &mut LabelSet,
        exemplar: &mut LabelSet,
        raw: &[u8],
    ) {
        let s = named.sample;
        let Some(t) = s.as_text() else {
            return;
        };
        let (line, base) = (s.position(), named.base);
        if let Err(v) = name_rule(line, base, t.name.is_quoted_name()) {
            return self.violated(v);
        }
        self.family_of(line, base, None);
        if self.error.is_some() || !self.open {
            return;
        }
        let ty = self.cur.ty;
        let suffix = strip_prefix(base, &self.cur.name).unwrap_or(b"");
        if let Err(v) = label_names_rule(line, labels.quoted, false) {
            return self.violated(v);
        }
        if let Some(name) = labels.repeated_name(raw) {
            let twice = format!("label {:?} twice", String::from_utf8_lossy(&name));
            return self.fail(line, "distinct label names", twice);
        }
        if let Some(name) = labels.reserved_name(raw) {
            let found = format!("{:?}", String::from_utf8_lossy(name));
            return self.fail(
                line,
                "label names not starting with \"__\" (reserved)",
                found,
            );
        }

        // The label the MetricPoint adds, cut from the Metric's labels.
        let bucket = matches!(ty, MetricType::Histogram | MetricType::GaugeHistogram)
            && suffix == b"_bucket";
        let state_at = if ty == MetricType::Stateset {
            labels.position(raw, &self.cur.name)
        } else {
            None
        };
        let cut = match ty {
            _ if bucket => labels.le,
            MetricType::Summary if suffix.is_empty() => labels.quantile,
            MetricType::Stateset => state_at,
            _ => None,
        };
        let le_text = labels.le.map(|i| labels.value(raw, i));
        let quantile = labels.quantile.map(|i| labels.value(raw, i));
        let point_labels = point_labels_rule(
            line,
            ty,
            suffix,
            (&self.cur.name, base),
            le_text,
            quantile,
            (ty == MetricType::Stateset).then_some(state_at.is_some()),
        );
        let le = match point_labels {
            Ok(le) => le,
            Err(v) => return self.violated(v),
        };

        // Its Metric, and its MetricPoint in it.
        let (metric, new) = self.group(labels, raw, cut);
        let f = &mut self.cur;
        f.samples += 1;
        f.last_line = line;
        let (family, groups, stored) = (&f.name, &f.groups, &mut self.stored);
        let ts = t.timestamp_raw;
        let point = if f.points.is_open() && f.metric == metric {
            let id = f.points.id();
            let prev = f.metric;
            let key = || {
                let k = groups.key(prev);
                stored.read(k);
                stored.key_text(k, None)
            };
            f.points
                .next(line, f.ty, family, ts, key)
                .map(|()| f.points.id() != id)
        } else {
            let prev = f.metric;
            let key = || {
                let k = groups.key(prev);
                stored.read(k);
                stored.key_text(k, None)
            };
            match f.points.end(f.ty, family, key) {
                Err(v) => return self.violated(v),
                Ok(()) if !new => {
                    let found = format!(
                        "{}{{{}}} again after another label set",
                        self.cur.text_name(),
                        labels.key_text(raw, cut)
                    );
                    return self.fail(
                        line,
                        "all samples of a Metric together (Metrics are not interleaved)",
                        found,
                    );
                }
                Ok(()) => {
                    let f = &mut self.cur;
                    f.points.start(ts);
                    f.metric = metric;
                    Ok(true)
                }
            }
        };
        let f = &mut self.cur;
        match point {
            Err(v) => return self.violated(v),
            Ok(true) => {
                f.les.clear();
                f.le_bytes.clear();
            }
            Ok(false) => {}
        }

        // Each series once in a MetricPoint.
        let twice = match (le, cut) {
            (Some(le_v), Some(le_at)) => {
                let le_bytes = labels.value(raw, le_at);
                let twice =
                    f.points.last_le().is_some_and(|p| le_v <= p) && f.had_le(metric, le_bytes);
                f.le_bytes.extend_from_slice(le_bytes);
                f.les.push((metric, f.le_bytes.len()));
                twice
            }
            (_, Some(_)) => {
                let hash = set_hash(labels.sum(), suffix) & self.hash_mask;
                let stored_labels = &mut self.stored;
                let (i, new) = f.series.find_or_add(
                    hash,
                    |stored| {
                        is_concat(stored, &[suffix, &[0xFF], raw])
                            || same_series(stored, suffix, labels, raw, stored_labels)
                    },
                    |out| {
                        out.extend_from_slice(suffix);
                        out.push(0xFF);
                        out.extend_from_slice(raw);
                    },
                );
                let id = f.points.id();
                let seen = f.series.value_mut(i);
                let twice = !new && *seen == id;
                *seen = id;
                twice
            }
            (_, None) => f.points.seen_twice(suffix),
        };
        if twice {
            let again = format!(
                "{}{{{}}} again",
                String::from_utf8_lossy(base),
                labels.key_text(raw, None)
            );
            return self.fail(
                line,
                "each series once in a MetricPoint (again only in a later one, with a greater timestamp)",
                again,
            );
        }

        // Its value.
        let value = match ty {
            MetricType::Gauge | MetricType::Unknown => 0.0,
            _ => s.value(),
        };
        let point_sample = PointSample {
            line,
            ty,
            suffix,
            value,
            le: le.zip(cut).map(|(v, i)| (labels.value(raw, i), v)),
        };
        if let Err(v) = self.cur.points.sample(&point_sample) {
            return self.violated(v);
        }

        // Its exemplar.
        let Some(ex) = t.exemplar else {
            return;
        };
        let facts = match plain_exemplar(ex.labels_raw) {
            Some((chars, repeated, reserved)) => ExemplarFacts {
                quoted: false,
                chars,
                repeated,
                reserved,
                value: ex.value(),
            },
            None => {
                exemplar.read(ex.labels_raw);
                let repeated = exemplar.repeated_name(ex.labels_raw).is_some();
                ExemplarFacts {
                    quoted: exemplar.quoted,
                    chars: exemplar.chars(ex.labels_raw),
                    repeated,
                    reserved: exemplar.reserved_name(ex.labels_raw),
                    value: ex.value(),
                }
            }
        };
        if let Err(v) = exemplar_rule(line, ty, suffix, base, le, &facts) {
            self.violated(v);
        }
    }

    /// The group of the sample whose labels are `labels` (of text `raw`):
    /// its labels but pair `le_at` (a bucket's `le`, in OpenMetrics also a
    /// quantile's `quantile` or a state's label), all of them for other
    /// samples. Added if new (`true`).
    fn group(&mut self, labels: &mut LabelSet, raw: &[u8], le_at: Option<usize>) -> (usize, bool) {
        let (hash, (cut_from, cut_to)) = match le_at {
            Some(i) => (
                labels.sum().wrapping_sub(labels.pair_hash(i)),
                labels.cut(raw, i),
            ),
            None => (labels.sum(), (raw.len(), raw.len())),
        };
        let (before, after) = (&raw[..cut_from], &raw[cut_to..]);
        let hash = set_hash(hash, b"") & self.hash_mask;
        let f = &mut self.cur;
        if let Some((last_hash, last)) = f.last_group
            && last_hash == hash
            && is_concat(f.groups.key(last), &[before, after])
        {
            return (last, false);
        }
        let stored_labels = &mut self.stored;
        let (i, new) = f.groups.find_or_add(
            hash,
            |stored| {
                is_concat(stored, &[before, after]) || {
                    stored_labels.read(stored);
                    labels.same_pairs(raw, le_at, stored_labels, stored)
                }
            },
            |out| {
                out.extend_from_slice(before);
                out.extend_from_slice(after);
            },
        );
        f.last_group = Some((hash, i));
        (i, new)
    }
}

/// Whether the stored series key `stored` (a suffix, 0xFF, a label text) is
/// the series of name `suffix` and labels `labels` (of text `raw`), whose
/// text is written differently.
fn same_series(
    stored: &[u8],
    suffix: &[u8],
    labels: &mut LabelSet,
    raw: &[u8],
    scratch: &mut LabelSet,
) -> bool {
    let Some(sep) = stored.iter().position(|&b| b == 0xFF) else {
        return false;
    };
    if !same_bytes(&stored[..sep], suffix) {
        return false;
    }
    let text = &stored[sep + 1..];
    scratch.read(text);
    labels.same_pairs(raw, None, scratch, text)
}
