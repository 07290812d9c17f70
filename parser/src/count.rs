//! What counting a body produces.

use std::collections::HashMap;

use crate::error::ParseError;
use crate::text::MetricType;

/// The figures of one body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples as Prometheus counts them (`scrape_samples_scraped`): every
    /// sample line (duplicates included), every expanded protobuf series,
    /// one per native histogram; those before the first error when there is
    /// one, since that is what Prometheus reports for a failed scrape.
    pub samples: u64,
    /// Decoded bytes fed.
    pub bytes: u64,
    /// The first error; counting stops there.
    pub error: Option<ParseError>,
    pub(crate) families: HashMap<String, u64>,
}

impl Counts {
    /// Samples per metric family (histogram `_bucket`/`_sum`/`_count` etc.
    /// belong to their family).
    pub fn families(&self) -> impl Iterator<Item = (&str, u64)> {
        self.families.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Samples of one family (0 if absent).
    pub fn family(&self, name: &str) -> u64 {
        self.families.get(name).copied().unwrap_or(0)
    }

    /// Number of distinct families.
    pub fn family_count(&self) -> usize {
        self.families.len()
    }

    /// The `n` largest families, largest first, ties by name.
    pub fn top_families(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.families().collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// Whether the body parsed without error.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Attributes samples to families without hashing per sample: consecutive
/// samples of one family are counted in a run, flushed on change.
#[derive(Debug, Default)]
pub(crate) struct FamilyTracker {
    declared: Vec<u8>,
    declared_type: Option<MetricType>,
    run: Vec<u8>,
    run_count: u64,
}

impl FamilyTracker {
    pub(crate) fn declare(&mut self, name: &[u8], kind: Option<MetricType>) {
        if self.declared != name {
            self.declared.clear();
            self.declared.extend_from_slice(name);
            self.declared_type = kind;
        } else if kind.is_some() {
            self.declared_type = kind;
        }
    }

    #[inline]
    pub(crate) fn sample(&mut self, name: &[u8], map: &mut HashMap<String, u64>) {
        let declared = !self.declared.is_empty()
            && name.starts_with(&self.declared)
            && (name.len() == self.declared.len()
                || self
                    .declared_type
                    .is_some_and(|t| t.suffixes().contains(&&name[self.declared.len()..])));
        if declared {
            if self.declared == self.run {
                self.run_count += 1;
                return;
            }
            let fam = std::mem::take(&mut self.declared);
            self.add(&fam, 1, map);
            self.declared = fam;
        } else {
            self.add(name, 1, map);
        }
    }

    /// One more sample of the family counted last.
    #[inline]
    pub(crate) fn repeat(&mut self) {
        self.run_count += 1;
    }

    #[inline]
    pub(crate) fn add(&mut self, fam: &[u8], n: u64, map: &mut HashMap<String, u64>) {
        if fam == self.run.as_slice() {
            self.run_count += n;
            return;
        }
        self.flush(map);
        self.run.extend_from_slice(fam);
        self.run_count = n;
    }

    pub(crate) fn flush(&mut self, map: &mut HashMap<String, u64>) {
        if self.run_count > 0 {
            *map.entry(String::from_utf8_lossy(&self.run).into_owned())
                .or_insert(0) += self.run_count;
        }
        self.run.clear();
        self.run_count = 0;
    }
}
