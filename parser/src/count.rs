//! What counting a body produces.

use std::sync::LazyLock;

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
    pub(crate) families: FamilyTable,
}

impl Counts {
    /// Samples per metric family (histogram `_bucket`/`_sum`/`_count` etc.
    /// belong to their family), in the order the families first appeared.
    ///
    /// ```
    /// use promshard_parser::{count, Format};
    /// let counts = count(b"b 1\na 1\nb{x=\"y\"} 2\n", Format::Text);
    /// assert_eq!(counts.families().collect::<Vec<_>>(), [("b", 2), ("a", 1)]);
    /// ```
    pub fn families(&self) -> impl Iterator<Item = (&str, u64)> {
        self.families.iter()
    }

    /// Samples of one family (0 if absent).
    pub fn family(&self, name: &str) -> u64 {
        self.families.get(name).unwrap_or(0)
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

/// Samples per family name: the names in one string, a small open-addressing
/// index over them. A body has a few families to a few thousand, each added
/// once per run of samples; a map of `String`s cost an allocation and a
/// SipHash per family, which showed on small bodies.
#[derive(Clone, Default)]
pub(crate) struct FamilyTable {
    /// UTF-8 (checked, or replaced, when a name is added).
    names: Vec<u8>,
    entries: Vec<FamilyEntry>,
    /// Entry index + 1 per slot (0: empty); the length is a power of two
    /// at least twice the number of entries.
    slots: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct FamilyEntry {
    start: usize,
    end: usize,
    hash: u64,
    count: u64,
}

/// The hasher for family names. Seeded at random once per process: with
/// known seeds a body could name its families so that they all probe the
/// same slots, and adding each would walk past all the others. (The table's
/// order never shows: families are listed in the order they were added.)
static FAMILY_HASH: LazyLock<ahash::RandomState> = LazyLock::new(ahash::RandomState::new);

impl FamilyTable {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.entries.iter().map(|e| {
            let name = std::str::from_utf8(self.name(e)).unwrap_or("");
            (name, e.count)
        })
    }

    fn name(&self, e: &FamilyEntry) -> &[u8] {
        self.names.get(e.start..e.end).unwrap_or(&[])
    }

    /// The slot holding `name`, or the empty slot where it belongs.
    fn find(&self, name: &[u8], hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        #[allow(clippy::cast_possible_truncation)] // masked to the table size
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return at;
            }
            let e = &self.entries[slot as usize - 1];
            if e.hash == hash && self.name(e) == name {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        let hash = FAMILY_HASH.hash_one(name.as_bytes());
        match self.slots[self.find(name.as_bytes(), hash)] {
            0 => None,
            slot => Some(self.entries[slot as usize - 1].count),
        }
    }

    /// Adds `n` samples to the family `name` (bytes that are not UTF-8 are
    /// replaced, as the name is reported as a string).
    pub(crate) fn add(&mut self, name: &[u8], n: u64) {
        if name.is_ascii() || std::str::from_utf8(name).is_ok() {
            self.add_utf8(name, n);
        } else {
            self.add_utf8(String::from_utf8_lossy(name).as_bytes(), n);
        }
    }

    fn add_utf8(&mut self, name: &[u8], n: u64) {
        if self.entries.len() * 2 >= self.slots.len() {
            self.grow();
        }
        let hash = FAMILY_HASH.hash_one(name);
        let at = self.find(name, hash);
        match self.slots[at] {
            0 => {
                let start = self.names.len();
                self.names.extend_from_slice(name);
                self.entries.push(FamilyEntry {
                    start,
                    end: self.names.len(),
                    hash,
                    count: n,
                });
                // At most `u32::MAX / 2` entries fit in the index: the
                // families of any body that passes the line cap are fewer.
                self.slots[at] = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
            }
            slot => self.entries[slot as usize - 1].count += n,
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(64);
        self.slots.clear();
        self.slots.resize(size, 0);
        let mask = size - 1;
        for (i, e) in self.entries.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)] // masked to the table size
            let mut at = e.hash as usize & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }
}

impl PartialEq for FamilyTable {
    /// Same families with the same counts, in any order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(name, n)| other.get(name) == Some(n))
    }
}

impl Eq for FamilyTable {}

impl std::fmt::Debug for FamilyTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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
    pub(crate) fn sample(&mut self, name: &[u8], map: &mut FamilyTable) {
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
    pub(crate) fn add(&mut self, fam: &[u8], n: u64, map: &mut FamilyTable) {
        if fam == self.run.as_slice() {
            self.run_count += n;
            return;
        }
        self.flush(map);
        self.run.extend_from_slice(fam);
        self.run_count = n;
    }

    pub(crate) fn flush(&mut self, map: &mut FamilyTable) {
        if self.run_count > 0 {
            map.add(&self.run, self.run_count);
        }
        self.run.clear();
        self.run_count = 0;
    }
}
