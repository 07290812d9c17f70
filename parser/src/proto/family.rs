//! One `MetricFamily` message: its name, help and type checked the way
//! Prometheus's `ProtobufParser.Next` checks them, and its series counted
//! from the [`MetricScan`]s of its metrics.
//!
//! The family's fields can arrive in pieces (a large message streamed), and
//! its `type` may come after its metrics on the wire, so [`FamilyScanner`]
//! takes one field at a time, keeps only the name, and sums the series for
//! every type a metric could turn out to have until [`FamilyScanner::finish`]
//! knows which applies.

use super::metric::{MetricScan, scan_metric};
use super::wire::{WResult, Wire, WireError, bytes, low_i32, varint, walk};
use super::{COUNTER, GAUGE_HISTOGRAM, HISTOGRAM, SUMMARY};

/// The result of walking one family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilyScan {
    pub(crate) series: u64,
    /// Error found after `series` series were produced.
    pub(crate) error: Option<WireError>,
    pub(crate) ty: i32,
    pub(crate) native: bool,
    /// Number of metrics whose series are all produced.
    pub(crate) metrics_ok: usize,
}

/// Walks one `MetricFamily` message field by field: validates it and counts
/// its series. The fields may come from separate buffers (a message that
/// arrives in pieces), so the little it keeps (the name) is copied.
#[derive(Debug, Default)]
pub(crate) struct FamilyScanner {
    name: Vec<u8>,
    help_utf8: bool,
    ty_raw: u64,
    n_metrics: usize,
    first: Option<MetricScan>,
    // Sums per possible type, because `type` may follow the metrics on the wire.
    sum_summary: u64,
    sum_classic: u64,
    n_before_bad: u64,
    bad: Option<WireError>,
}

impl FamilyScanner {
    /// Starts a new family.
    pub(crate) fn reset(&mut self) {
        self.name.clear();
        self.help_utf8 = true;
        self.ty_raw = 0;
        self.n_metrics = 0;
        self.first = None;
        self.sum_summary = 0;
        self.sum_classic = 0;
        self.n_before_bad = 0;
        self.bad = None;
    }

    /// The family name (the last one on the wire).
    pub(crate) fn name(&self) -> &[u8] {
        &self.name
    }

    /// One top-level field of the family at byte `at` of the message.
    #[inline(always)]
    pub(crate) fn field(&mut self, f: u32, v: Wire<'_>, at: usize) -> WResult<()> {
        match f {
            1 => {
                let name = bytes(v, at)?;
                self.name.clear();
                self.name.extend_from_slice(name);
            }
            2 => {
                let help = bytes(v, at)?;
                self.help_utf8 = help.is_ascii() || std::str::from_utf8(help).is_ok();
            }
            3 => self.ty_raw = varint(v, at)?,
            4 => {
                let scan = scan_metric(bytes(v, at)?)?;
                if self.first.is_none() {
                    self.first = Some(scan);
                }
                self.n_metrics += 1;
                if self.bad.is_none() {
                    if let Some((off, what)) = scan.bad_label {
                        self.bad = Some(WireError {
                            offset: at + off,
                            what,
                            eof: false,
                        });
                    } else {
                        self.sum_summary += scan.series(SUMMARY, false);
                        self.sum_classic += scan.series(HISTOGRAM, false);
                        self.n_before_bad += 1;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The family's outcome, given how walking its fields ended.
    pub(crate) fn finish(&self, walked: WResult<()>) -> FamilyScan {
        // gogo decodes the enum into an int32: high bits are dropped.
        let ty = low_i32(self.ty_raw);
        let mut out = FamilyScan {
            series: 0,
            error: None,
            ty,
            native: false,
            metrics_ok: 0,
        };
        let fail = |what| {
            Some(WireError {
                offset: 0,
                what,
                eof: false,
            })
        };
        if let Err(e) = walked {
            out.error = Some(e);
            return out;
        }
        if self.n_metrics == 0 {
            return out;
        }
        if self.name.is_empty() || std::str::from_utf8(&self.name).is_err() {
            out.error = fail("a non-empty UTF-8 metric family name");
            return out;
        }
        if !self.help_utf8 {
            out.error = fail("UTF-8 help text");
            return out;
        }
        if !(COUNTER..=GAUGE_HISTOGRAM).contains(&ty) {
            out.error = fail("a known metric type (0 to 5)");
            return out;
        }
        let native =
            matches!(ty, HISTOGRAM | GAUGE_HISTOGRAM) && self.first.is_some_and(|m| m.native());
        out.native = native;
        out.series = match ty {
            SUMMARY => self.sum_summary,
            HISTOGRAM | GAUGE_HISTOGRAM if !native => self.sum_classic,
            _ => self.n_before_bad,
        };
        out.metrics_ok = usize::try_from(self.n_before_bad).unwrap_or(usize::MAX);
        out.error = self.bad;
        out
    }

    /// Walks a whole `MetricFamily` message.
    pub(crate) fn scan(&mut self, msg: &[u8]) -> FamilyScan {
        self.reset();
        let walked = walk(msg, |f, v, at| self.field(f, v, at));
        self.finish(walked)
    }
}
