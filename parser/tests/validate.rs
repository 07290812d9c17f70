//! The strict validator: one body per rule, with the exact report a user
//! sees, checked whole, in every split, and in 1-byte chunks.

// Test helpers outside #[test] fns: a panic there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use promshard_parser::{Format, ValidationReport, Validator, count, validate};

/// (name, body, samples counted, the report's error).
type Case = (&'static str, &'static [u8], u64, Option<&'static str>);

const TEXT_CASES: &[Case] = &[
    ("buckets_not_increasing", b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 2\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n", 5, Some("line 3, column 1: expected histogram buckets in increasing le order, found le=\"0.5\" after le=1")),
    ("count_not_inf", b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n", 4, Some("line 5, column 1: expected h_count{} equal to its +Inf bucket (3), found 4")),
    ("decreasing_counts", b"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 3\n", 4, Some("line 3, column 1: expected non-decreasing cumulative bucket counts, found 3 after 5")),
    ("distinct_series", b"a{x=\"1\"} 1\na{x=\"2\"} 1\na 3\na{x=\"1\",y=\"\"} 4\n", 4, None),
    ("duplicate_label", b"a{x=\"1\",x=\"2\"} 1\n", 1, Some("line 1, column 1: expected distinct label names, found label \"x\" twice")),
    ("escaped_group_key", b"# TYPE h histogram\nh_bucket{p=\"q\\\"x\\\\y\\nz\",le=\"1\"} 1\nh_count{p=\"q\\\"x\\\\y\\nz\"} 1\n", 2, Some("line 3, column 1: expected a le=\"+Inf\" bucket in histogram h{p=\"q\\\"x\\\\y\\nz\"}, found none")),
    ("help_twice", b"# HELP a x\n# HELP a y\na 1\n", 1, Some("line 2, column 1: expected one # HELP line for a, found a second one")),
    ("histogram_bad_suffix", b"# TYPE h histogram\nh_total 1\n", 1, Some("line 2, column 1: expected a sample name allowed for histogram family h (suffixes [\"_bucket\", \"_count\", \"_sum\"]), found \"h_total\"")),
    ("interleaved", b"a 1\nb 1\na 2\n", 3, Some("line 3, column 1: expected all of family a in one group, found it again after another family (interleaved)")),
    ("le_missing", b"# TYPE h histogram\nh_bucket{x=\"1\"} 1\n", 1, Some("line 2, column 1: expected an le label on a histogram bucket, found none")),
    ("le_not_float", b"# TYPE h histogram\nh_bucket{le=\"abc\"} 1\n", 1, Some("line 2, column 1: expected a float le value, found \"abc\"")),
    ("missing_inf", b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", 3, Some("line 4, column 1: expected a le=\"+Inf\" bucket in histogram h{}, found none")),
    ("nan_counter", b"# TYPE c counter\nc NaN\n", 1, Some("line 2, column 1: expected a counter value >= 0, found NaN")),
    ("negative_bucket", b"# TYPE h histogram\nh_bucket{le=\"1\"} -1\n", 1, Some("line 2, column 1: expected a bucket count >= 0, found -1")),
    ("negative_count", b"# TYPE s summary\ns_count -1\n", 1, Some("line 2, column 1: expected a count >= 0, found -1")),
    ("negative_counter", b"# TYPE c counter\nc -1\n", 1, Some("line 2, column 1: expected a counter value >= 0, found -1")),
    ("quantile_missing", b"# TYPE s summary\ns{x=\"2\"} 1\n", 1, Some("line 2, column 1: expected a quantile label on a summary sample, found none")),
    ("quantile_outside", b"# TYPE s summary\ns{quantile=\"2\"} 1\n", 1, Some("line 2, column 1: expected a quantile between 0 and 1, found \"2\"")),
    ("quoted_names", b"{\"my.metric\",\"a.b\"=\"1\"} 1\n{\"my.metric\",\"a.b\"=\"1\"} 2\n", 2, Some("line 2, column 1: expected each series once, found my.metric{a.b=\"1\"} again")),
    ("reserved_label", b"a{__x=\"1\"} 1\n", 1, Some("line 1, column 1: expected label names not starting with \"__\" (reserved), found \"__x\"")),
    ("same_series_after_unescape", b"a{x=\"\\\\x\"} 1\na{x=\"\\x\"} 2\n", 2, Some("line 2, column 1: expected each series once, found a{x=\"\\\\x\"} again")),
    ("same_series_reordered", b"a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 1\n", 2, Some("line 2, column 1: expected each series once, found a{x=\"1\",y=\"2\"} again")),
    ("same_series_twice", b"a{x=\"1\"} 1\na{x=\"1\"} 2\n", 2, Some("line 2, column 1: expected each series once, found a{x=\"1\"} again")),
    ("summary_ok", b"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 4\n", 4, None),
    ("two_bad_groups", b"# TYPE h histogram\nh_bucket{p=\"b\",le=\"1\"} 1\nh_sum{p=\"b\"} 1\nh_count{p=\"b\"} 1\nh_bucket{p=\"a\",le=\"+Inf\"} 2\nh_sum{p=\"a\"} 1\nh_count{p=\"a\"} 3\n", 6, Some("line 7, column 1: expected h_count{p=\"a\"} equal to its +Inf bucket (2), found 3")),
    ("type_after_samples", b"a 1\n# TYPE a gauge\n", 1, Some("line 2, column 1: expected # TYPE a before the family's samples, found it after them")),
    ("type_twice", b"# TYPE a gauge\n# TYPE a gauge\na 1\n", 1, Some("line 2, column 1: expected one # TYPE line for a, found a second one")),
    ("untyped_suffixes", b"x_total 1\nx_bucket 1\n", 2, None),
    ("utf8_group_key", b"# TYPE h histogram\nh_bucket{p=\"\xc3\xa9\xe2\x9c\x93\",le=\"1\"} 1\n", 1, Some("line 2, column 1: expected a le=\"+Inf\" bucket in histogram h{p=\"é✓\"}, found none")),
    ("valid_groups", b"# TYPE h histogram\nh_bucket{p=\"a\",le=\"1\"} 1\nh_bucket{p=\"a\",le=\"+Inf\"} 2\nh_sum{p=\"a\"} 1\nh_count{p=\"a\"} 2\nh_bucket{p=\"b\",le=\"1\"} 0\nh_bucket{p=\"b\",le=\"+Inf\"} 0\nh_sum{p=\"b\"} 0\nh_count{p=\"b\"} 0\n", 8, None),
    ("whitespace", b"a{x=\"1\" , y=\"2\"} 1\n", 1, Some("line 1, column 1: expected labels written as name=\"value\" pairs separated by ',', found blanks or a missing ','")),
    ("quoted_escaped_names", b"{\"my.metric\",\"a\\\"b\"=\"1\",\"c\"=\"x\\\\y\"} 1\n{\"c\"=\"x\\\\y\",\"my.metric\",\"a\\\"b\"=\"1\"} 2\n", 2, Some("line 2, column 1: expected each series once, found my.metric{a\"b=\"1\",c=\"x\\\\y\"} again")),
    ("quoted_group", b"# TYPE h histogram\nh_bucket{\"p.q\"=\"\\\"\",le=\"1\"} 1\nh_bucket{\"p.q\"=\"\\\"\",le=\"+Inf\"} 1\nh_count{\"p.q\"=\"\\\"\"} 2\n", 3, Some("line 4, column 1: expected h_count{p.q=\"\\\"\"} equal to its +Inf bucket (1), found 2")),
    ("dup_and_blank", b"a{x=\"1\",x=\"2\" } 1\n", 1, Some("line 1, column 1: expected labels written as name=\"value\" pairs separated by ',', found blanks or a missing ','")),
];
const OM_CASES: &[Case] = &[
    ("counter_created_negative", b"# TYPE c counter\nc_total 1\nc_created -5\n# EOF\n", 2, None),
    ("counter_no_total", b"# TYPE c counter\nc 1\n# EOF\n", 1, Some("line 2, column 1: expected a sample name allowed for counter family c (suffixes [\"_total\", \"_created\"]), found \"c\"")),
    ("duplicate_series", b"# TYPE g gauge\ng{a=\"1\"} 1\ng{a=\"1\"} 1\n# EOF\n", 2, Some("line 3, column 1: expected each series once in a MetricPoint (again only in a later one, with a greater timestamp), found g{a=\"1\"} again")),
    ("exemplar_dup_names", b"# TYPE c counter\nc_total 1 # {a=\"1\",a=\"2\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected distinct exemplar label names, found a repeated name")),
    ("exemplar_ok_bucket", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1 # {a=\"1\"} 1\nh_count 1\nh_sum 1\n# EOF\n", 3, None),
    ("exemplar_on_gauge", b"# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected exemplars only on counter _total and histogram _bucket samples, found one on g")),
    ("exemplar_too_long", b"# TYPE c counter\nc_total 1 # {trace_id=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected exemplar labels of at most 128 UTF-8 characters, found 138 characters")),
    ("gaugehistogram", b"# TYPE g gaugehistogram\ng_bucket{le=\"1\"} 1\ng_bucket{le=\"+Inf\"} 2\ng_gcount 3\ng_gsum 1\n# EOF\n", 4, Some("line 5, column 1: expected g_gcount{} equal to its +Inf bucket (2), found 3")),
    ("gaugehistogram_ok", b"# TYPE g gaugehistogram\ng_bucket{le=\"1\"} 1\ng_bucket{le=\"+Inf\"} 2\ng_gcount 2\ng_gsum 1\n# EOF\n", 4, None),
    ("info_value", b"# TYPE i info\ni_info{v=\"1\"} 2\n# EOF\n", 1, Some("line 2, column 1: expected an info value of 1, found 2")),
    ("stateset_label", b"# TYPE s stateset\ns{x=\"a\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected a label named \"s\" on a stateset sample, found none")),
    ("stateset_value", b"# TYPE s stateset\ns{s=\"a\"} 2\n# EOF\n", 1, Some("line 2, column 1: expected a stateset value of 0 or 1, found 2")),
    ("unit_after", b"# TYPE c_seconds counter\nc_seconds_total 1\n# UNIT c_seconds seconds\n# EOF\n", 1, Some("line 3, column 1: expected # UNIT c_seconds before the family's samples, found it after them")),
];

/// The OpenMetrics 1.0 rules beyond the line syntax: a body that keeps
/// each rule and one that breaks it (the specification's words are in
/// the crate docs, "Counting vs validating").
const OM_SPEC_CASES: &[Case] = &[
    // Names as the ABNF writes them: bare names, no reserved family names.
    ("name_quoted", b"{\"a.b\"} 1\n# EOF\n", 1, Some("line 1, column 1: expected a metric name written bare ([a-zA-Z_:][a-zA-Z0-9_:]*; OpenMetrics 1.0 has no quoted names), found \"a.b\" quoted")),
    ("name_bare_ok", b"a:b_c 1\n# EOF\n", 1, None),
    ("label_name_quoted", b"a{\"b\"=\"1\"} 1\n# EOF\n", 1, Some("line 1, column 1: expected label names written bare ([a-zA-Z_][a-zA-Z0-9_]*; OpenMetrics 1.0 has no quoted names), found a quoted label name")),
    ("meta_name_quoted", b"# TYPE \"a\" gauge\n# EOF\n", 0, Some("line 1, column 1: expected a metric name written bare ([a-zA-Z_:][a-zA-Z0-9_:]*; OpenMetrics 1.0 has no quoted names), found \"a\" quoted")),
    ("family_reserved", b"__a 1\n# EOF\n", 1, Some("line 1, column 1: expected a metric family name not starting with \"__\" (reserved), found \"__a\"")),
    ("family_underscore_ok", b"_a 1\n# EOF\n", 1, None),
    ("exemplar_label_quoted", b"# TYPE c counter\nc_total 1 # {\"t\"=\"x\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected exemplar label names written bare ([a-zA-Z_][a-zA-Z0-9_]*; OpenMetrics 1.0 has no quoted names), found a quoted label name")),
    ("exemplar_label_reserved", b"# TYPE c counter\nc_total 1 # {__t=\"x\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected exemplar label names not starting with \"__\" (reserved), found \"__t\"")),
    // HELP text is an escaped-string; lines end in \n alone.
    ("help_escaped_ok", b"# HELP a say \\\"hi\\\" \\\\ \\n\n# EOF\n", 0, None),
    ("help_raw_quote", b"# HELP a say \"hi\"\n# EOF\n", 0, Some("line 1, column 1: expected HELP text with '\"' escaped as \\\", found an unescaped '\"'")),
    ("help_trailing_backslash", b"# HELP a ends in \\\n# EOF\n", 0, Some("line 1, column 1: expected HELP text whose backslashes each escape a character, found a backslash ending it")),
    ("help_carriage_return", b"# HELP a text\r\n# EOF\n", 0, Some("line 1, column 1: expected a line ending in \\n alone, found a carriage return before it")),
    // No unit on info and stateset families, whichever line comes first.
    ("unit_on_info", b"# TYPE i_x info\n# UNIT i_x x\n# EOF\n", 0, Some("line 2, column 1: expected no unit for info family i_x (info and stateset families have none), found a # UNIT line with one")),
    ("unit_before_stateset_type", b"# UNIT s_x x\n# TYPE s_x stateset\n# EOF\n", 0, Some("line 2, column 1: expected no unit for stateset family s_x (info and stateset families have none), found a # UNIT line with one")),
    ("unit_empty_on_info_ok", b"# TYPE i info\n# UNIT i \ni_info 1\n# EOF\n", 1, None),
    ("unit_on_counter_ok", b"# TYPE c_seconds counter\n# UNIT c_seconds seconds\nc_seconds_total 1\n# EOF\n", 1, None),
    // Family and sample names no two families share; a name the family before cannot have starts a family.
    ("clash_family_after", b"# TYPE foo counter\nfoo_total 1\n# TYPE foo_total gauge\nfoo_total 2\n# EOF\n", 2, Some("line 3, column 1: expected metric family and sample names no two families share (names clash in the text format), found foo_total, a sample name of counter family foo")),
    ("clash_type_after", b"# TYPE a_created gauge\na_created 1\n# TYPE a counter\n# EOF\n", 1, Some("line 3, column 1: expected metric family and sample names no two families share (names clash in the text format), found counter family a's sample name a_created, the name of gauge family a_created")),
    ("clash_none_ok", b"# TYPE foo gauge\nfoo 1\n# TYPE foo_total gauge\nfoo_total 2\n# EOF\n", 2, None),
    ("new_family_after_histogram_ok", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_total 2\n# EOF\n", 2, None),
    // A Metric's samples together; its MetricPoints in timestamp order, a series once in each.
    ("metrics_interleaved", b"# TYPE s summary\ns_count{a=\"1\"} 1\ns_sum{a=\"1\"} 1\ns_count{a=\"2\"} 1\ns_sum{a=\"1\"} 1\n# EOF\n", 4, Some("line 5, column 1: expected all samples of a Metric together (Metrics are not interleaved), found s{a=\"1\"} again after another label set")),
    ("metrics_grouped_ok", b"# TYPE s summary\ns{a=\"1\",quantile=\"0.5\"} 1\ns_count{a=\"1\"} 1\ns_sum{a=\"1\"} 1\ns{a=\"2\",quantile=\"0.5\"} 1\ns_count{a=\"2\"} 1\n# EOF\n", 5, None),
    ("points_in_order_ok", b"# TYPE s summary\ns_count{a=\"bb\"} 0 123\ns_sum{a=\"bb\"} 0 123\ns_count{a=\"bb\"} 0 456\ns_sum{a=\"bb\"} 0 456\ns_count{a=\"ccc\"} 0 123\n# EOF\n", 5, None),
    ("points_interleaved", b"# TYPE s summary\ns_count{a=\"bb\"} 0 123\ns_count{a=\"bb\"} 0 456\ns_sum{a=\"bb\"} 0 123\ns_sum{a=\"bb\"} 0 456\n# EOF\n", 4, Some("line 4, column 1: expected a Metric's MetricPoints in increasing timestamp order, found 123 after 456")),
    ("repeated_greater_ts_ok", b"# TYPE g gauge\ng 1 1\ng 2 2\ng 3 2.5\n# EOF\n", 3, None),
    ("repeated_same_ts", b"# TYPE g gauge\ng 1 1\ng 2 1.0\n# EOF\n", 2, Some("line 3, column 1: expected each series once in a MetricPoint (again only in a later one, with a greater timestamp), found g{} again")),
    ("ts_backwards", b"# TYPE g gauge\ng 1 2\ng 2 1\n# EOF\n", 2, Some("line 3, column 1: expected a Metric's MetricPoints in increasing timestamp order, found 1 after 2")),
    ("ts_mixed", b"# TYPE g gauge\ng 1\ng 2 1\n# EOF\n", 2, Some("line 3, column 1: expected timestamps on all samples of a Metric or on none, found one after a sample without")),
    ("ts_nanoseconds_ok", b"# TYPE g gauge\ng 1 1604676851.123456789\ng 2 1604676851.12345679\n# EOF\n", 2, None),
    ("ts_nanoseconds_backwards", b"# TYPE g gauge\ng 2 1604676851.123456789\ng 1 1604676851.123456788\n# EOF\n", 2, Some("line 3, column 1: expected a Metric's MetricPoints in increasing timestamp order, found 1604676851.123456788 after 1604676851.123456789")),
    ("histogram_points_ok", b"# TYPE h histogram\nh_bucket{le=\"1\"} 0 1\nh_bucket{le=\"+Inf\"} 1 1\nh_bucket{le=\"1\"} 1 2\nh_bucket{le=\"+Inf\"} 2 2\n# EOF\n", 4, None),
    ("stateset_states_any_order_ok", b"# TYPE s stateset\ns{s=\"b\"} 1\ns{s=\"a\"} 0\n# EOF\n", 2, None),
    ("stateset_state_twice", b"# TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"a\"} 0\n# EOF\n", 2, Some("line 3, column 1: expected each series once in a MetricPoint (again only in a later one, with a greater timestamp), found s{s=\"a\"} again")),
    // Histogram MetricPoints: a +Inf bucket, _count and _sum together, counter-like values, integer counts.
    ("histogram_no_bucket", b"# TYPE h histogram\nh_count 0\nh_sum 0\n# EOF\n", 2, Some("line 3, column 1: expected a le=\"+Inf\" bucket in histogram h{}, found no bucket")),
    ("histogram_no_inf", b"# TYPE h histogram\nh_bucket{le=\"1\"} 0\n# EOF\n", 1, Some("line 2, column 1: expected a le=\"+Inf\" bucket in histogram h{}, found none")),
    ("histogram_count_without_sum", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n", 2, Some("line 3, column 1: expected h_sum{} with its _count (both or neither), found only _count")),
    ("histogram_sum_without_count", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n# EOF\n", 2, Some("line 3, column 1: expected h_count{} with its _sum (both or neither), found only _sum")),
    ("histogram_sum_nan", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum NaN\n# EOF\n", 3, Some("line 4, column 1: expected a histogram _sum >= 0 (a counter: not negative, not NaN), found NaN")),
    ("histogram_sum_negative", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum -1\n# EOF\n", 3, Some("line 4, column 1: expected a histogram _sum >= 0 (a counter: not negative, not NaN), found -1")),
    ("histogram_negative_buckets_sum", b"# TYPE h histogram\nh_bucket{le=\"-1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 0\n# EOF\n", 4, Some("line 5, column 1: expected no h_sum{} in a MetricPoint with buckets below 0, found one")),
    ("histogram_negative_buckets_ok", b"# TYPE h histogram\nh_bucket{le=\"-1\"} 0\nh_bucket{le=\"+Inf\"} 1\n# EOF\n", 2, None),
    ("histogram_bucket_not_integer", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\n# EOF\n", 1, Some("line 2, column 1: expected an integer bucket count, found 1.5")),
    ("histogram_count_not_integer", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1.5\nh_sum 1\n# EOF\n", 3, Some("line 3, column 1: expected an integer count, found 1.5")),
    ("histogram_integers_as_floats_ok", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.0\nh_count 1e0\nh_sum 0.5\n# EOF\n", 3, None),
    ("histogram_inf_not_canonical", b"# TYPE h histogram\nh_bucket{le=\"inf\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected le=\"+Inf\" for the +Inf bucket (the canonical spelling), found le=\"inf\"")),
    ("histogram_le_on_count", b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count{le=\"+Inf\"} 1\n# EOF\n", 2, Some("line 3, column 1: expected no le label on h_count (a histogram's Metrics have none), found le=\"+Inf\"")),
    ("histogram_exemplar_above_le", b"# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {t=\"x\"} 1.5\nh_bucket{le=\"+Inf\"} 1\n# EOF\n", 2, Some("line 2, column 1: expected an exemplar value the bucket counts (<= 1), found 1.5")),
    ("histogram_exemplar_in_bucket_ok", b"# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {t=\"x\"} 1\nh_bucket{le=\"+Inf\"} 1 # {t=\"y\"} 7\n# EOF\n", 2, None),
    // Gauge histograms: _gsum not NaN, negative only with buckets below 0.
    ("gaugehistogram_gsum_nan", b"# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum NaN\n# EOF\n", 3, Some("line 4, column 1: expected a _gsum that is not NaN, found NaN")),
    ("gaugehistogram_gsum_negative", b"# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum -1\n# EOF\n", 3, Some("line 4, column 1: expected g_gsum{} >= 0 (negative only with buckets below 0), found -1")),
    ("gaugehistogram_gsum_negative_ok", b"# TYPE g gaugehistogram\ng_bucket{le=\"-1\"} 1\ng_bucket{le=\"+Inf\"} 1\ng_gcount 1\ng_gsum -1\n# EOF\n", 4, None),
    ("gaugehistogram_gcount_mismatch", b"# TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 2\ng_gcount 3\ng_gsum 1\n# EOF\n", 3, Some("line 4, column 1: expected g_gcount{} equal to its +Inf bucket (2), found 3")),
    // Counters: a _total in each MetricPoint, _created a timestamp, no decrease without a reset.
    ("counter_created_nan", b"# TYPE c counter\nc_total 1\nc_created NaN\n# EOF\n", 2, Some("line 3, column 1: expected a _created value that is a timestamp (a finite number), found NaN")),
    ("counter_without_total", b"# TYPE c counter\nc_created 1\n# EOF\n", 1, Some("line 2, column 1: expected a c_total{} sample in each MetricPoint, found only _created")),
    ("counter_float_total_ok", b"# TYPE c counter\nc_total 1.1\n# EOF\n", 1, None),
    ("counter_decreases", b"# TYPE c counter\nc_total 5 1\nc_created 0 1\nc_total 3 2\nc_created 0 2\n# EOF\n", 4, Some("line 5, column 1: expected c_total{} not below the MetricPoint before (5) unless reset (with a new _created), found 3")),
    ("counter_reset_ok", b"# TYPE c counter\nc_total 5 1\nc_created 0 1\nc_total 3 2\nc_created 1.5 2\n# EOF\n", 4, None),
    // Summaries: quantile values, _sum and _count counter-like, no quantile label on them.
    ("summary_quantile_value_negative", b"# TYPE s summary\ns{quantile=\"0.5\"} -1\n# EOF\n", 1, Some("line 2, column 1: expected a quantile value >= 0 (or NaN), found -1")),
    ("summary_quantile_nan_ok", b"# TYPE s summary\ns{quantile=\"0.5\"} NaN\n# EOF\n", 1, None),
    ("summary_sum_nan", b"# TYPE s summary\ns_sum NaN\n# EOF\n", 1, Some("line 2, column 1: expected a summary _sum >= 0 (a counter: not negative, not NaN), found NaN")),
    ("summary_count_not_integer", b"# TYPE s summary\ns_count 2.5\n# EOF\n", 1, Some("line 2, column 1: expected an integer count, found 2.5")),
    ("summary_quantile_on_sum", b"# TYPE s summary\ns_sum{quantile=\"0.5\"} 1\n# EOF\n", 1, Some("line 2, column 1: expected no quantile label on s_sum (a summary's Metrics have none), found quantile=\"0.5\"")),
];

fn check(format: Format, name: &str, body: &[u8], samples: u64, error: Option<&str>) {
    let report = validate(body, format);
    assert_eq!(report.counts, count(body, format), "{name}: counts");
    assert_eq!(report.counts.samples, samples, "{name}: samples");
    assert_eq!(
        report.error.as_ref().map(ToString::to_string).as_deref(),
        error,
        "{name}"
    );
    let chunked = |cuts: &mut dyn Iterator<Item = usize>| -> ValidationReport {
        let mut v = Validator::new(format);
        let mut start = 0;
        for end in cuts {
            v.feed(&body[start..end]);
            start = end;
        }
        v.feed(&body[start..]);
        v.finish()
    };
    for split in 0..=body.len() {
        assert_eq!(
            chunked(&mut std::iter::once(split)),
            report,
            "{name}: split {split}"
        );
    }
    assert_eq!(
        chunked(&mut (1..body.len())),
        report,
        "{name}: 1-byte chunks"
    );
}

#[test]
fn text_rules() {
    for &(name, body, samples, error) in TEXT_CASES {
        check(Format::Text, name, body, samples, error);
    }
}

#[test]
fn openmetrics_rules() {
    for &(name, body, samples, error) in OM_CASES {
        check(Format::OpenMetrics, name, body, samples, error);
    }
    let long = |value: &str| format!("# TYPE c counter\nc_total 1 # {{t=\"{value}\"}} 1\n# EOF\n");
    // 128 characters (not bytes) of exemplar labels are allowed.
    let at_limit = long(&"\u{e9}".repeat(127));
    check(
        Format::OpenMetrics,
        "exemplar at 128",
        at_limit.as_bytes(),
        1,
        None,
    );
    let over = long(&"x".repeat(128));
    check(
        Format::OpenMetrics,
        "exemplar over 128",
        over.as_bytes(),
        1,
        Some(
            "line 2, column 1: expected exemplar labels of at most 128 UTF-8 characters, found 129 characters",
        ),
    );
}

#[test]
fn openmetrics_spec_rules() {
    for &(name, body, samples, error) in OM_SPEC_CASES {
        check(Format::OpenMetrics, name, body, samples, error);
    }
}

#[test]
fn many_series_and_groups() {
    // Enough series for the key table to grow and see hash-bucket reuse;
    // the duplicate is the very first series, found at the end.
    let mut body = String::from("# TYPE h histogram\n");
    for i in 0..2000 {
        for le in ["0.1", "1", "+Inf"] {
            body.push_str(&format!("h_bucket{{path=\"/p/{i}\",le=\"{le}\"}} {i}\n"));
        }
        body.push_str(&format!(
            "h_sum{{path=\"/p/{i}\"}} 1\nh_count{{path=\"/p/{i}\"}} {i}\n"
        ));
    }
    let ok = validate(body.as_bytes(), Format::Text);
    assert_eq!(ok.error, None);
    assert_eq!(ok.counts.samples, 10_000);
    body.push_str("h_bucket{le=\"0.1\",path=\"/p/0\"} 0\n");
    let dup = validate(body.as_bytes(), Format::Text);
    assert_eq!(
        dup.error.unwrap().to_string(),
        "line 10002, column 1: expected each series once, found h_bucket{le=\"0.1\",path=\"/p/0\"} again"
    );
    // Two groups break a rule: the report names the first in key order.
    let mut body = String::from("# TYPE h histogram\n");
    for p in ["c", "a", "b"] {
        body.push_str(&format!(
            "h_bucket{{p=\"{p}\",le=\"+Inf\"}} 2\nh_count{{p=\"{p}\"}} "
        ));
        body.push_str(if p == "c" { "2\n" } else { "3\n" });
    }
    assert_eq!(
        validate(body.as_bytes(), Format::Text)
            .error
            .unwrap()
            .to_string(),
        "line 7, column 1: expected h_count{p=\"a\"} equal to its +Inf bucket (2), found 3"
    );
}
