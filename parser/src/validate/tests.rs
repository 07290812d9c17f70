//! The validator against the previous implementation (which sorted every
//! sample's labels into a byte key per series): the same counts and the
//! same first error on generated, mutated and real bodies, also when every
//! series shares a hash, so that keys are told apart by comparing them.

#![allow(clippy::cast_possible_truncation)] // test encoders

use promshard_test_support::{gzip, varint};
use proptest::prelude::*;

use super::{ValidationReport, Validator, legacy, validate};
use crate::format::Format;
use crate::text::MetricType;

/// Hash masks that make series share a hash: all of them, or half.
const MASKS: [u64; 2] = [0, 1];

fn validate_masked(body: &[u8], format: Format, mask: u64) -> ValidationReport {
    let mut v = Validator::with_hash_mask(format, mask);
    v.feed(body);
    v.finish()
}

fn agrees(body: &[u8], format: Format) -> ValidationReport {
    let want = legacy::validate(body, format);
    let got = validate(body, format);
    let ctx = || String::from_utf8_lossy(body).into_owned();
    assert_eq!(got, want, "{format:?}: {}", ctx());
    for mask in MASKS {
        let got = validate_masked(body, format, mask);
        assert_eq!(got, want, "{format:?}, hash mask {mask}: {}", ctx());
    }
    want
}

const FAMILIES: &[&str] = &["a", "c", "h", "g", "s", "i", "st"];
const SUFFIXES: &[&str] = &[
    "", "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
];
const TEXT_TYPES: &[&str] = &["counter", "gauge", "histogram", "summary", "untyped"];
const OM_TYPES: &[&str] = &[
    "counter",
    "gauge",
    "histogram",
    "gaugehistogram",
    "summary",
    "info",
    "stateset",
    "unknown",
];
const LABEL_NAMES: &[&str] = &[
    "x",
    "y",
    "le",
    "quantile",
    "st",
    "\"q.n\"",
    "created_by_kind",
    "created_by_name",
];
const LABEL_VALUES: &[&str] = &[
    "1", "2", "+Inf", "0.5", "10", "a\\\\b", "a\\b", "\\\"", "\\n", "\u{e9}", "", "abc",
];
const VALUES: &[&str] = &["0", "1", "1", "2", "3", "-1", "NaN", "+Inf", "1.5", "0.5"];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    prop::sample::select(list)
}

/// A label set: distinct names in any order (a name repeated, `__`
/// names, blanks, a quoted metric name or a trailing comma now and then).
fn labels() -> impl Strategy<Value = String> {
    let names = prop::sample::subsequence(LABEL_NAMES, 0..4).prop_shuffle();
    let values = prop::collection::vec(pick(LABEL_VALUES), 4);
    (names, values, 0..24u8).prop_map(|(names, values, odd)| {
        let mut pairs: Vec<String> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| format!("{n}=\"{v}\""))
            .collect();
        match odd {
            0 if !pairs.is_empty() => pairs.push(pairs[0].clone()),
            1 => pairs.push("__r=\"1\"".to_owned()),
            _ => {}
        }
        let joined = pairs.join(if odd == 2 { ", " } else { "," });
        match odd {
            3 if joined.is_empty() => "{\"h_bucket\"}".to_owned(),
            3 => format!("{{\"h_bucket\",{joined}}}"),
            4 => format!("{{{joined},}}"),
            5..=8 if joined.is_empty() => String::new(),
            _ => format!("{{{joined}}}"),
        }
    })
}

/// The suffixes a family of type `ty` may use (what the validator checks).
fn suffixes(om: bool, ty: &str) -> &'static [&'static str] {
    match (ty, om) {
        ("counter", true) => &["_total", "_total", "_created"],
        ("histogram", true) => &["_bucket", "_bucket", "_count", "_sum", "_created"],
        ("histogram", false) => &["_bucket", "_bucket", "_count", "_sum"],
        ("gaugehistogram", _) => &["_bucket", "_bucket", "_gcount", "_gsum"],
        ("summary", _) => &["", "", "_count", "_sum"],
        ("info", _) => &["_info"],
        _ => &[""],
    }
}

/// A sample line of family `family` of type `ty`: mostly with a suffix the
/// type allows, exemplars mostly where they are allowed.
fn sample_line(om: bool, family: &'static str, ty: &'static str) -> impl Strategy<Value = String> {
    (
        prop_oneof![9 => pick(suffixes(om, ty)), 1 => pick(SUFFIXES)],
        labels(),
        pick(VALUES),
        any::<bool>(),
        0..12u8,
        (pick(LABEL_NAMES), pick(LABEL_VALUES)),
    )
        .prop_map(move |(suffix, labels, value, ts, ex, (en, ev))| {
            let mut line = if labels.starts_with("{\"h_bucket\"") {
                format!("{labels} {value}")
            } else {
                format!("{family}{suffix}{labels} {value}")
            };
            if ts {
                line.push_str(if om { " 1.5" } else { " 15" });
            }
            let exemplar_ok = matches!(suffix, "_total" | "_bucket");
            match ex {
                0..=4 if om && exemplar_ok => {
                    line.push_str(&format!(" # {{{en}=\"{ev}\"}} 1"));
                }
                5 if om && exemplar_ok => {
                    line.push_str(&format!(" # {{{en}=\"{ev}\",{en}=\"2\"}} 1"))
                }
                6 if om && exemplar_ok => {
                    line.push_str(&format!(" # {{{en}=\"{}\"}} 1", "x".repeat(130)))
                }
                7 if om => line.push_str(" # {} 1"),
                _ => {}
            }
            line
        })
}

/// A family: an optional `# TYPE` (and `# HELP`), then samples.
fn family(om: bool) -> impl Strategy<Value = Vec<String>> {
    let types = if om { OM_TYPES } else { TEXT_TYPES };
    (pick(FAMILIES), pick(types), 0..12u8).prop_flat_map(move |(name, ty, meta)| {
        let samples = prop::collection::vec(sample_line(om, name, ty), 0..8);
        samples.prop_map(move |mut lines| {
            let mut head = Vec::new();
            if meta > 1 {
                head.push(format!("# TYPE {name} {ty}"));
            }
            if meta > 8 {
                head.push(format!("# HELP {name} x"));
            }
            if meta == 11 {
                head.push(format!("# TYPE {name} {ty}"));
            }
            head.append(&mut lines);
            head
        })
    })
}

fn body(om: bool) -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(family(om), 0..5), any::<bool>()).prop_map(move |(families, eof)| {
        let mut b = families.concat().join("\n");
        if !b.is_empty() {
            b.push('\n');
        }
        if om && eof {
            b.push_str("# EOF\n");
        }
        b.into_bytes()
    })
}

/// A histogram family of `groups` label sets written in `order`, with
/// buckets, `_sum` and `_count`, valid unless `twist` breaks something.
fn histogram_body(groups: usize, order: u8, twist: u8) -> Vec<u8> {
    let mut b = String::from("# TYPE h histogram\n");
    for g in 0..groups {
        let pairs = [
            format!("code=\"{}\"", 200 + g % 3),
            format!("path=\"/p/{}\"", g / 3),
        ];
        let text = |le: Option<&str>| {
            let mut p: Vec<String> = pairs.to_vec();
            if order & 1 == 1 {
                p.reverse();
            }
            if let Some(le) = le {
                let at = if order & 2 == 2 { 0 } else { p.len() };
                p.insert(at, format!("le=\"{le}\""));
            }
            p.join(",")
        };
        for (i, le) in ["0.1", "1", "+Inf"].iter().enumerate() {
            let v = if twist == 1 && g == groups / 2 && i == 2 {
                0
            } else {
                g + i
            };
            b.push_str(&format!("h_bucket{{{}}} {v}\n", text(Some(le))));
        }
        b.push_str(&format!("h_sum{{{}}} 1\n", text(None)));
        let count = if twist == 2 && g == groups / 3 {
            g + 5
        } else {
            g + 2
        };
        b.push_str(&format!("h_count{{{}}} {count}\n", text(None)));
    }
    match twist {
        // A bucket again: written otherwise, the group's last one, or with
        // an `le` of the same value written otherwise (another series).
        3 => b.push_str("h_bucket{path=\"/p/0\",le=\"1\",code=\"200\"} 9\n"),
        4 => b.push_str("h_bucket{code=\"200\",path=\"/p/0\",le=\"+Inf\"} 9\n"),
        5 => b.push_str("h_bucket{code=\"200\",path=\"/p/0\",le=\"1.0\"} 9\n"),
        _ => {}
    }
    b.into_bytes()
}

fn mutate(mut b: Vec<u8>, ops: Vec<(usize, u8, u8)>) -> Vec<u8> {
    const BYTES: &[u8] = b" \t\n{}=,\"\\#0a_.:e+-\0\xffl";
    for (pos, op, byte) in ops {
        if b.is_empty() {
            break;
        }
        let p = pos % b.len();
        let c = BYTES[usize::from(byte) % BYTES.len()];
        match op % 3 {
            0 => b[p] = c,
            1 => b.insert(p, c),
            _ => {
                b.remove(p);
            }
        }
    }
    b
}

/// Family names that clash with some types' sample names, and the types.
const OM_NAMES: [&str; 6] = ["a", "a_total", "a_created", "b", "b_bucket", "c"];
const OM_TYPE_NAMES: [(&str, MetricType); 8] = [
    ("counter", MetricType::Counter),
    ("gauge", MetricType::Gauge),
    ("histogram", MetricType::Histogram),
    ("gaugehistogram", MetricType::GaugeHistogram),
    ("summary", MetricType::Summary),
    ("stateset", MetricType::Stateset),
    ("info", MetricType::Info),
    ("unknown", MetricType::Unknown),
];

/// An OpenMetrics family of type `ty` named `name`: `metrics` label sets
/// (pairs in either order, a value with an escape now and then), each with
/// `points` MetricPoints (timestamped when more than one, or when
/// `stamp`), valid by every rule.
fn om_family(name: &str, ty: &str, metrics: usize, points: usize, stamp: bool) -> Vec<String> {
    let mut lines = vec![format!("# TYPE {name} {ty}")];
    for m in 0..metrics {
        let pairs = [format!("x=\"{m}\""), format!("y=\"v\\\\{}\"", m % 2)];
        let labels = |extra: Option<String>| {
            let mut p: Vec<String> = pairs.to_vec();
            if m % 2 == 1 {
                p.reverse();
            }
            p.extend(extra);
            format!("{{{}}}", p.join(","))
        };
        for t in 0..points {
            let ts = if points > 1 || stamp {
                format!(" {}", 100 + t)
            } else {
                String::new()
            };
            let n = m + t + 1;
            let mut add = |suffix: &str, extra: Option<String>, value: String| {
                lines.push(format!("{name}{suffix}{} {value}{ts}", labels(extra)));
            };
            match ty {
                "counter" => {
                    add("_total", None, format!("{n}"));
                    add("_created", None, "1.5".into());
                }
                "histogram" | "gaugehistogram" => {
                    let (count, sum) = if ty == "histogram" {
                        ("_count", "_sum")
                    } else {
                        ("_gcount", "_gsum")
                    };
                    for (i, le) in ["0.5", "1", "+Inf"].iter().enumerate() {
                        add(
                            "_bucket",
                            Some(format!("le=\"{le}\"")),
                            format!("{}", i + n),
                        );
                    }
                    add(count, None, format!("{}", 2 + n));
                    add(sum, None, "2.5".into());
                }
                "summary" => {
                    for q in ["0.9", "0.5"] {
                        add("", Some(format!("quantile=\"{q}\"")), "0.25".into());
                    }
                    add("_sum", None, "3".into());
                    add("_count", None, format!("{n}"));
                }
                "stateset" => {
                    for (state, on) in [("b", 1), ("a", 0)] {
                        add("", Some(format!("{name}=\"{state}\"")), format!("{on}"));
                    }
                }
                "info" => add("_info", None, "1".into()),
                _ => add("", None, format!("{n}")),
            }
        }
    }
    lines
}

/// An OpenMetrics body of families from `specs` (name, type, Metrics,
/// MetricPoints, timestamps), then changed by `ops`: a line moved,
/// repeated or dropped, or a value made negative, fractional or NaN.
fn om_body(specs: &[(usize, usize, usize, usize, bool)], ops: &[(usize, u8)]) -> Vec<u8> {
    let mut lines = Vec::new();
    for &(name, ty, metrics, points, stamp) in specs {
        let name = OM_NAMES[name % OM_NAMES.len()];
        let ty = OM_TYPE_NAMES[ty % OM_TYPE_NAMES.len()].0;
        lines.extend(om_family(name, ty, metrics, points, stamp));
    }
    for &(at, op) in ops {
        if lines.is_empty() {
            break;
        }
        let i = at % lines.len();
        match op % 6 {
            0 if i + 1 < lines.len() => lines.swap(i, i + 1),
            1 => {
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            2 => {
                lines.remove(i);
            }
            3..=5 => {
                let value = ["-1", "0.5", "NaN"][usize::from(op % 6 - 3)];
                // The value is the token after the labels (or the name).
                let l = &lines[i];
                if let Some(close) = l
                    .find("} ")
                    .map(|c| c + 2)
                    .or_else(|| l.find(' ').map(|c| c + 1))
                    && !l.starts_with('#')
                {
                    let end = l[close..].find(' ').map_or(l.len(), |e| close + e);
                    lines[i] = format!("{}{value}{}", &l[..close], &l[end..]);
                }
            }
            _ => {}
        }
    }
    lines.push("# EOF".into());
    let mut b = lines.join("\n");
    b.push('\n');
    b.into_bytes()
}

fn om_specs() -> impl Strategy<Value = Vec<(usize, usize, usize, usize, bool)>> {
    prop::collection::vec(
        (0..6usize, 0..8usize, 1..4usize, 1..4usize, any::<bool>()),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn openmetrics_metrics_agree(specs in om_specs(), ops in prop::collection::vec((any::<usize>(), any::<u8>()), 0..3)) {
        let b = om_body(&specs, &ops);
        let report = agrees(&b, Format::OpenMetrics);
        // Unchanged, the body is valid unless two families' names clash.
        let mut names = std::collections::HashSet::new();
        let apart = specs.iter().all(|&(name, ty, ..)| {
            let name = OM_NAMES[name % OM_NAMES.len()];
            let ty = OM_TYPE_NAMES[ty % OM_TYPE_NAMES.len()].1;
            std::iter::once("")
                .chain(super::openmetrics::sample_suffixes(ty).iter().copied())
                .all(|suffix| names.insert(format!("{name}{suffix}")))
        });
        if ops.is_empty() {
            prop_assert_eq!(report.error.is_none(), apart, "{}", String::from_utf8_lossy(&b));
        }
    }

    #[test]
    fn text_agrees_with_previous_validator(b in body(false)) {
        agrees(&b, Format::Text);
    }

    #[test]
    fn openmetrics_agrees_with_previous_validator(b in body(true)) {
        agrees(&b, Format::OpenMetrics);
    }

    #[test]
    fn mutated_bodies_agree(b in body(false), om in any::<bool>(), ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)) {
        let format = if om { Format::OpenMetrics } else { Format::Text };
        agrees(&mutate(b, ops), format);
    }

    #[test]
    fn histograms_agree(groups in 1..40usize, order in 0..4u8, twist in 0..6u8) {
        let b = histogram_body(groups, order, twist);
        let report = agrees(&b, Format::Text);
        prop_assert_eq!(report.error.is_none(), twist == 0);
    }
}

/// Real exporter bodies, and copies with a line repeated or moved.
#[test]
fn corpus_bodies_agree() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "prom") {
            continue;
        }
        seen += 1;
        let body = std::fs::read(&path).unwrap();
        let report = agrees(&body, Format::Text);
        assert!(report.error.is_none(), "{path:?}: {:?}", report.error);
        let lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        for (i, line) in lines.iter().enumerate().step_by(7) {
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            // The line again right after itself: a repeated series.
            let mut twice = lines[..=i].join(&b'\n');
            twice.push(b'\n');
            twice.extend_from_slice(&lines[i..].join(&b'\n'));
            assert!(
                agrees(&twice, Format::Text).error.is_some(),
                "{path:?} line {i}"
            );
        }
    }
    assert_eq!(seen, 4, "testdata/corpus bodies");
}

fn field(f: u64, b: &[u8], out: &mut Vec<u8>) {
    varint(out, f << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn double(f: u64, v: f64, out: &mut Vec<u8>) {
    varint(out, f << 3 | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn pair(k: &str, v: &str) -> Vec<u8> {
    let mut p = Vec::new();
    field(1, k.as_bytes(), &mut p);
    field(2, v.as_bytes(), &mut p);
    p
}

/// A protobuf body: a histogram and a summary family whose metrics have
/// the label sets `sets`, and a gauge family with them too.
fn protobuf_body(sets: &[Vec<(&str, &str)>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, ty) in [("h", 4u64), ("s", 2), ("g", 1)] {
        let mut fam = Vec::new();
        field(1, name.as_bytes(), &mut fam);
        varint(&mut fam, 3 << 3);
        varint(&mut fam, ty);
        for (i, set) in sets.iter().enumerate() {
            let mut m = Vec::new();
            for (k, v) in set {
                field(1, &pair(k, v), &mut m);
            }
            let mut inner = Vec::new();
            match ty {
                4 => {
                    varint(&mut inner, 1 << 3);
                    varint(&mut inner, i as u64 + 3);
                    double(2, 1.5, &mut inner);
                    for (j, ub) in [0.5, 1.0].iter().enumerate() {
                        let mut b = Vec::new();
                        varint(&mut b, 1 << 3);
                        varint(&mut b, j as u64 + 1);
                        double(2, *ub, &mut b);
                        field(3, &b, &mut inner);
                    }
                    field(7, &inner, &mut m);
                }
                2 => {
                    varint(&mut inner, 1 << 3);
                    varint(&mut inner, 4);
                    double(2, 2.0, &mut inner);
                    let mut q = Vec::new();
                    double(1, 0.5, &mut q);
                    double(2, 1.0, &mut q);
                    field(3, &q, &mut inner);
                    field(4, &inner, &mut m);
                }
                _ => {
                    double(1, 1.0, &mut inner);
                    field(2, &inner, &mut m);
                }
            }
            field(4, &m, &mut fam);
        }
        varint(&mut body, fam.len() as u64);
        body.extend_from_slice(&fam);
    }
    body
}

#[test]
fn protobuf_bodies_agree() {
    let sets: Vec<Vec<(&str, &str)>> = vec![
        vec![("a", "1")],
        vec![("b", "x\"y\\z\nw"), ("a", "1")],
        vec![("a", "1"), ("b", "x\"y\\z\nw")],
        vec![("a", "2"), ("le", "0.5")],
        vec![("a.b", "\u{e9}"), ("__x", "1")],
        vec![("a", "3"), ("a", "4")],
        vec![],
    ];
    // Every pair of sets (a set with itself too), in both orders, alone
    // or with a third set (the first or the fourth).
    for i in 0..sets.len() {
        for j in 0..sets.len() {
            for k in [None, Some(0), Some(3)] {
                let mut pick = vec![sets[i].clone(), sets[j].clone()];
                if let Some(k) = k {
                    pick.push(sets[k].clone());
                }
                agrees(&protobuf_body(&pick), Format::Protobuf);
            }
        }
    }
    let report = agrees(&protobuf_body(&sets[..2]), Format::Protobuf);
    assert_eq!(report.error, None);
    let report = agrees(&protobuf_body(&sets[1..3]), Format::Protobuf);
    assert!(
        report
            .error
            .unwrap()
            .to_string()
            .contains("each series once"),
    );
}

/// Series that share a hash are still told apart, and a repeated one is
/// still found, whether written the same way or not.
#[test]
fn shared_hashes_compare_keys() {
    let body = b"a{x=\"1\",y=\"2\"} 1\na{x=\"2\",y=\"1\"} 1\na{y=\"1\"} 1\na{x=\"1\"} 1\na 1\n";
    for mask in MASKS {
        assert_eq!(validate_masked(body, Format::Text, mask).error, None);
        for (again, line) in [
            (&b"a{x=\"1\",y=\"2\"} 2\n"[..], 6),
            (b"a{y=\"2\",x=\"1\"} 2\n", 6),
            (b"a{\"y\"=\"2\",x=\"1\",} 2\n", 6),
            (b"a 2\n", 6),
        ] {
            let mut b = body.to_vec();
            b.extend_from_slice(again);
            let err = validate_masked(&b, Format::Text, mask).error.unwrap();
            assert_eq!(err.line(), line, "{}", String::from_utf8_lossy(again));
            assert!(err.to_string().contains("each series once"), "{err}");
        }
    }
    // Histogram groups under one hash keep their own buckets.
    let b = histogram_body(30, 1, 0);
    assert_eq!(validate_masked(&b, Format::Text, 0).error, None);
    let b = histogram_body(30, 2, 2);
    assert_eq!(
        validate_masked(&b, Format::Text, 0),
        legacy::validate(&b, Format::Text)
    );
}

fn validate_gzip(gz: &[u8], format: Format, chunk: usize) -> ValidationReport {
    let mut v = Validator::with_encoding(format, crate::Encoding::Gzip);
    for c in gz.chunks(chunk.max(1)) {
        v.feed(c);
    }
    v.finish()
}

/// A gzip body validates as its plain body does (counts, first error), fed
/// whole or in pieces, small (gathered and inflated at the end) or large
/// (inflated as it streams).
#[test]
fn gzip_bodies_validate_as_plain_ones() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/corpus");
    let node = std::fs::read(dir.join("node_exporter.prom")).unwrap();
    let mut large = Vec::new();
    while large.len() < 3 << 20 {
        large.extend_from_slice(&histogram_body(400, (large.len() % 4) as u8, 0));
    }
    let bad = histogram_body(50, 0, 2);
    for (name, body) in [("node", &node), ("large", &large), ("bad", &bad)] {
        let plain = validate(body, Format::Text);
        let gz = gzip(body);
        assert!(gz.len() < body.len(), "{name}");
        for chunk in [gz.len(), 64 * 1024, 4093, 1] {
            if chunk == 1 && gz.len() > 100_000 {
                continue;
            }
            let got = validate_gzip(&gz, Format::Text, chunk);
            assert_eq!(
                got.counts.samples, plain.counts.samples,
                "{name} in {chunk}"
            );
            assert_eq!(got.counts.bytes, plain.counts.bytes, "{name} in {chunk}");
            assert_eq!(
                got.counts.families().collect::<Vec<_>>(),
                plain.counts.families().collect::<Vec<_>>(),
                "{name} in {chunk}"
            );
            assert_eq!(got.error, plain.error, "{name} in {chunk}");
        }
    }
    assert!(validate(&bad, Format::Text).error.is_some());
}

/// A gzip body cut anywhere, or with a corrupt byte, is reported as such
/// (where in the compressed bytes, and what was wrong), never as a parse
/// error of the partial text it inflated to.
#[test]
fn broken_gzip_is_the_error() {
    let body = histogram_body(20, 1, 0);
    let gz = gzip(&body);
    for cut in 0..gz.len() {
        let report = validate_gzip(&gz[..cut], Format::Text, 512);
        let err = report.error.unwrap_or_else(|| panic!("cut at {cut}"));
        assert!(
            matches!(err.position, crate::Position::Encoded { .. }),
            "cut at {cut}: {err}"
        );
        assert!(err.to_string().starts_with("compressed byte "), "{err}");
    }
    let report = validate_gzip(&gz[..gz.len() - 20], Format::OpenMetrics, gz.len());
    let err = report.error.unwrap().to_string();
    assert!(err.contains("found a truncated"), "{err}");
    // The first deflate block header (after the 10-byte gzip header) made
    // the reserved block type 3, and a header that is not gzip's.
    let mut corrupt = gz.clone();
    corrupt[10] |= 0b110;
    let err = validate_gzip(&corrupt, Format::Text, 4096).error.unwrap();
    assert!(err.to_string().starts_with("compressed byte 1"), "{err}");
    corrupt.clone_from(&gz);
    corrupt[2] = 7;
    let err = validate_gzip(&corrupt, Format::Text, 4096).error.unwrap();
    assert!(err.to_string().starts_with("compressed byte 2:"), "{err}");
}
