//! Every input through every path (whole buffer, every split point, 1-byte
//! chunks, pull parser, visitor), and the fast parser against the naive
//! reference on generated and mutated inputs.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use promshard_parser::reference;
use promshard_parser::{
    Counts, Entry, Format, Parser, SampleRef, StreamCounter, count, count_with,
};
use proptest::prelude::*;

/// (name, labels, value) of every visited sample.
type Seen = Vec<(String, Vec<(String, String)>, String)>;

fn visit_all(body: &[u8], format: Format, chunks: &[usize]) -> (Counts, Seen) {
    let mut seen = Seen::new();
    let mut v = |s: &SampleRef<'_>| {
        let labels = s
            .labels()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        seen.push((
            s.metric_name().into_owned(),
            labels,
            format!("{:?}", s.value()),
        ));
    };
    let mut c = StreamCounter::new(format);
    let mut start = 0;
    for &end in chunks {
        c.feed_with(&body[start..end], &mut v);
        start = end;
    }
    c.feed_with(&body[start..], &mut v);
    let counts = c.finish_with(&mut v);
    (counts, seen)
}

/// Runs `body` through every path and asserts they agree; returns the result.
pub fn all_paths(body: &[u8], format: Format) -> (Counts, Seen) {
    let whole = count(body, format);
    let (visited, seen) = visit_all(body, format, &[]);
    assert_eq!(visited, whole, "visitor changes the counts");
    assert_eq!(
        seen.len() as u64,
        whole.samples,
        "visitor saw every counted sample"
    );
    for split in 0..=body.len() {
        let (c, s) = visit_all(body, format, &[split]);
        assert_eq!(c, whole, "split at {split}");
        assert_eq!(s, seen, "split at {split}");
    }
    let ones: Vec<usize> = (1..body.len()).collect();
    let (c, s) = visit_all(body, format, &ones);
    assert_eq!(c, whole, "1-byte chunks");
    assert_eq!(s, seen, "1-byte chunks");
    if format != Format::Protobuf {
        let mut n = 0;
        let mut err = None;
        for e in Parser::new(body, format) {
            match e {
                Ok(Entry::Sample(_)) => n += 1,
                Ok(_) => {}
                Err(e) => err = Some(e),
            }
        }
        assert_eq!(n, whole.samples, "pull parser count");
        assert_eq!(err, whole.error, "pull parser error");
    }
    let with_closure = count_with(body, format, &mut |_: &SampleRef<'_>| {});
    assert_eq!(with_closure, whole, "count_with");
    (whole, seen)
}

fn check_against_reference(body: &[u8], om: bool) {
    let format = if om {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    let (counts, seen) = all_paths(body, format);
    let r = reference::parse(body, om);
    let ref_seen: Vec<(String, Vec<(String, String)>)> = r
        .samples
        .iter()
        .map(|s| (s.name.clone(), s.labels.clone()))
        .collect();
    let fast_seen: Vec<(String, Vec<(String, String)>)> = seen
        .iter()
        .map(|(n, l, _)| (n.clone(), l.clone()))
        .collect();
    assert_eq!(
        fast_seen,
        ref_seen,
        "samples differ for {:?}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(
        counts.error.as_ref().map(|e| e.line()),
        r.error_line,
        "error line differs for {:?}: {:?}",
        String::from_utf8_lossy(body),
        counts.error
    );
}

#[test]
fn handwritten_inputs_agree_everywhere() {
    let text: &[&[u8]] = &[
        b"",
        b"\n\n",
        b"a 1",
        b"a 1\n",
        b"# HELP a x\\ny\n# TYPE a counter\na{b=\"c\\\"d\\\\e\\nf\"} 1 123\n",
        b"  a  {  b = \"1\" c=\"2\" , } 3  \n",
        b"{\"my.metric\",\"label.name\"=\"v\"} 1\n{\"x\"} 2\n",
        b"a{b=\"1\"} 1\nbad line\nc 3\n",
        b"a 1e400\n",
        b"a NaN\nb +Inf\nc -inf\nd 0x10\n",
        b"a 1\n\0garbage\nb 2\n",
        b"# TYPE a  counter\na 1\n",
        b"a{b=\"\xff\"} 1\n",
        b"# comment \xff\na 1\n",
        b"a 1 99999999999999999999\n",
        b"a\t1\t2\r\n",
    ];
    for body in text {
        check_against_reference(body, false);
    }
    let om: &[&[u8]] = &[
        b"# EOF\n",
        b"# EOF",
        b"a 1\n# EOF\n",
        b"a 1\n# EOF\nb 2\n",
        b"a 1\n",
        b"a 1",
        b"# TYPE a counter\n# UNIT a_seconds seconds\na_total{x=\"y\"} 1 2 # {t=\"1\"} 3 4\n# EOF\n",
        b"a 1 # {t=\"1\"} 3\n# EOF\n",
        b"a  1\n# EOF\n",
        b"a{x=\"1\",} 1\n# EOF\n",
        b"\n# EOF\n",
        b"# comment\n# EOF\n",
        b"a 1 NaN\n# EOF\n",
        b"{\"a.b\",c=\"d\"} 1\n# EOF\n",
    ];
    for body in om {
        check_against_reference(body, true);
    }
}

/// Inputs found by the fuzz targets (`fuzz/`), each a past disagreement
/// between two paths.
#[test]
fn fuzz_findings_agree_everywhere() {
    let text: &[&[u8]] = &[
        // Prometheus drops the byte after a HELP/TYPE name, whatever it is:
        // here an invalid UTF-8 byte, so the help text is valid.
        b"# HELP a\x85bc text\na 1\n",
        // ... and here the first byte of a two-byte character, which leaves
        // invalid UTF-8 help text (an error) or a type that is not a type.
        "# HELP a\u{e9}text\na 1\n".as_bytes(),
        "# TYPE a\u{e9}counter\na 1\n".as_bytes(),
        b"# TYPE a\x85counter\na 1\n",
        b"# HELP \"a.b\xff\" x\na 1\n",
        b"#\t HELP\ta x\xff\na 1\n",
        b"  # any \xff comment\na 1\n",
    ];
    for body in text {
        check_against_reference(body, false);
    }
    let om: &[&[u8]] = &[
        // What follows # EOF is reported the same whatever the chunking.
        b"a 1\n# EOF\nb\\\\\\\\xyz 2\n",
        b"# HELP a \xff\n# EOF\n",
    ];
    for body in om {
        check_against_reference(body, true);
    }
    let c = count(b"a 1\n# EOF\nb 2\n", Format::OpenMetrics);
    assert_eq!(c.error.expect("data after # EOF").line(), 3);
}

#[test]
fn line_cap_is_an_error_in_every_path() {
    let body = b"a 1\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 1\nc 1\n";
    for chunk in [1usize, 3, 10, 100] {
        let mut c = StreamCounter::with_max_record(Format::Text, 16);
        for piece in body.chunks(chunk) {
            c.feed(piece);
        }
        let counts = c.finish();
        assert_eq!(counts.samples, 1, "chunk {chunk}");
        let e = counts.error.expect("line too long");
        assert_eq!(e.line(), 2);
        assert!(e.expected.contains("at most 16 bytes"), "{e}");
    }
}

#[test]
fn errors_name_line_and_column() {
    let c = count(b"a 1\nb{c=\"d\" e} 2\n", Format::Text);
    let e = c.error.expect("error");
    assert_eq!(c.samples, 1);
    assert_eq!(
        e.to_string(),
        "line 2, column 10: expected '=' after the label name, found \"}\""
    );
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_:][a-z0-9_:]{0,8}",
        Just("http_requests".to_owned()),
        Just("x_bucket".to_owned()),
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ]{0,6}",
        Just("a\\\"b".to_owned()),
        Just("c\\\\d\\n".to_owned()),
        Just("é✓".to_owned()),
        Just("\\t".to_owned()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        Just("NaN".to_owned()),
        Just("+Inf".to_owned()),
        Just("1e3".to_owned()),
        Just("1e999".to_owned()),
        Just("abc".to_owned()),
    ]
}

fn sample_line(om: bool) -> impl Strategy<Value = String> {
    (
        name(),
        prop::collection::vec(("[a-z_][a-z0-9_]{0,4}", label_value()), 0..4),
        value(),
        prop::option::of(0u32..2_000_000_000u32),
        any::<bool>(),
    )
        .prop_map(move |(n, labels, v, ts, ex)| {
            let mut s = n;
            if !labels.is_empty() {
                let parts: Vec<String> =
                    labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
                s.push('{');
                s.push_str(&parts.join(","));
                s.push('}');
            }
            s.push(' ');
            s.push_str(&v);
            if let Some(t) = ts {
                s.push_str(&format!(" {t}"));
            }
            if om && ex {
                s.push_str(" # {trace_id=\"abc\"} 1.5");
            }
            s
        })
}

fn body(om: bool) -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        6 => sample_line(om),
        1 => name().prop_map(|n| format!("# TYPE {n} counter")),
        1 => name().prop_map(|n| format!("# HELP {n} some \\\\ help")),
        1 => Just("# a comment".to_owned()),
        1 => Just(String::new()),
    ];
    (prop::collection::vec(line, 0..8), any::<bool>()).prop_map(move |(lines, eof)| {
        let mut b = lines.join("\n");
        b.push('\n');
        if om && eof {
            b.push_str("# EOF\n");
        }
        b.into_bytes()
    })
}

fn mutate(mut b: Vec<u8>, ops: Vec<(usize, u8, u8)>) -> Vec<u8> {
    const BYTES: &[u8] = b" \t\n{}=,\"\\#0a_.:e+-\0\xff";
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn text_agrees_with_reference(b in body(false)) {
        check_against_reference(&b, false);
    }

    #[test]
    fn openmetrics_agrees_with_reference(b in body(true)) {
        check_against_reference(&b, true);
    }

    #[test]
    fn mutated_text_agrees_with_reference(b in body(false), ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)) {
        check_against_reference(&mutate(b, ops), false);
    }

    #[test]
    fn mutated_openmetrics_agrees_with_reference(b in body(true), ops in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..4)) {
        check_against_reference(&mutate(b, ops), true);
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
        for f in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
            all_paths(&b, f);
            let _ = promshard_parser::validate(&b, f);
        }
    }
}
