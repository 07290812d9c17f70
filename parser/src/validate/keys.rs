//! Finding series and histogram groups again: a hash per label pair, and a
//! table from hashes to stored keys in which a key is compared only when
//! its hash matches.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

/// Seeds drawn at random once per process, so that a body cannot be made
/// to put every series (or family name) under one hash.
static SEEDS: LazyLock<[u64; 3]> = LazyLock::new(|| {
    let state = ahash::RandomState::new();
    [1u8, 2, 3].map(|k| state.hash_one(k))
});

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// The 128-bit product of `a` and `b`, its halves xor-ed.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    #[allow(clippy::cast_possible_truncation)] // the low half, on purpose
    let low = r as u64;
    low ^ (r >> 64) as u64
}

#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        w.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

#[inline(always)]
fn half_word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        w.copy_from_slice(src);
    }
    u64::from(u32::from_le_bytes(w))
}

/// A 64-bit hash of `bytes` (wyhash-shaped: 16 bytes per multiply), for
/// hash tables whose keys are compared on a match, so it needs to spread
/// keys, not to resist an attacker who knows the seed.
#[inline]
pub(super) fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let n = bytes.len();
    let mut h = seed ^ (n as u64).wrapping_mul(P0);
    let (a, b) = if n >= 16 {
        let mut i = 0;
        while i + 16 < n {
            h = fold(word(bytes, i) ^ P1, word(bytes, i + 8) ^ h);
            i += 16;
        }
        (word(bytes, n - 16), word(bytes, n - 8))
    } else if n >= 8 {
        (word(bytes, 0), word(bytes, n - 8))
    } else if n >= 4 {
        (half_word(bytes, 0) << 32 | half_word(bytes, n - 4), 0)
    } else if n > 0 {
        let a = u64::from(bytes[0]) << 16 | u64::from(bytes[n / 2]) << 8 | u64::from(bytes[n - 1]);
        (a, 0)
    } else {
        (0, 0)
    };
    fold(a ^ P1, b ^ h ^ P2)
}

/// The seed of a label pair's hash, taken over `name="value"` (unescaped).
#[inline]
pub(super) fn pair_seed() -> u64 {
    SEEDS[0]
}

/// The table hash of a family name.
#[inline]
pub(super) fn name_hash(name: &[u8]) -> u64 {
    hash_bytes(name, SEEDS[2])
}

/// The table hash of a label set (the sum of its pairs' hashes, which does
/// not depend on their order) under a name `suffix`.
#[inline(always)]
pub(super) fn set_hash(pair_sum: u64, suffix: &[u8]) -> u64 {
    fold(pair_sum ^ P0, hash_bytes(suffix, SEEDS[1]) ^ P1)
}

/// Stored keys with a value each: the key bytes in one arena, a map from a
/// hash to the last entry with that hash, each entry linking to the one
/// before it with the same hash. Keys are compared only when hashes are
/// equal, and nothing is allocated per key once the buffers have grown.
#[derive(Debug, Default)]
pub(super) struct KeyTable<V> {
    bytes: Vec<u8>,
    entries: Vec<KeyEntry<V>>,
    heads: HashMap<u64, u32, BuildHasherDefault<HashIsKey>>,
}

#[derive(Debug)]
struct KeyEntry<V> {
    start: usize,
    len: usize,
    /// The previous entry with the same hash (`NO_ENTRY`: none).
    next: u32,
    value: V,
}

const NO_ENTRY: u32 = u32::MAX;

/// The keys of [`KeyTable::heads`] are already hashes.
#[derive(Debug, Default)]
pub(super) struct HashIsKey(u64);

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

impl<V: Default> KeyTable<V> {
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
        self.heads.clear();
    }

    /// The entry with this `hash` whose stored key `same` accepts.
    pub(super) fn find(&self, hash: u64, mut same: impl FnMut(&[u8]) -> bool) -> Option<usize> {
        let mut at = self.heads.get(&hash).copied().unwrap_or(NO_ENTRY);
        while at != NO_ENTRY {
            let e = &self.entries[at as usize];
            if same(&self.bytes[e.start..e.start + e.len]) {
                return Some(at as usize);
            }
            at = e.next;
        }
        None
    }

    /// The entry with this `hash` whose stored key `same` accepts, or a new
    /// one storing the key `store` appends; `true` when it was added.
    #[inline]
    pub(super) fn find_or_add(
        &mut self,
        hash: u64,
        mut same: impl FnMut(&[u8]) -> bool,
        store: impl FnOnce(&mut Vec<u8>),
    ) -> (usize, bool) {
        // One probe of the map whether the key is there or not.
        let slot = self.heads.entry(hash);
        let head = match &slot {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(_) => NO_ENTRY,
        };
        let mut at = head;
        while at != NO_ENTRY {
            let e = &self.entries[at as usize];
            if same(&self.bytes[e.start..e.start + e.len]) {
                return (at as usize, false);
            }
            at = e.next;
        }
        let index = self.entries.len();
        let Ok(index32) = u32::try_from(index) else {
            // Four billion keys in one family: not indexed any more.
            return (index.saturating_sub(1), false);
        };
        let start = self.bytes.len();
        store(&mut self.bytes);
        self.entries.push(KeyEntry {
            start,
            len: self.bytes.len() - start,
            next: head,
            value: V::default(),
        });
        match slot {
            Entry::Occupied(mut o) => {
                o.insert(index32);
            }
            Entry::Vacant(v) => {
                v.insert(index32);
            }
        }
        (index, true)
    }

    pub(super) fn key(&self, index: usize) -> &[u8] {
        let e = &self.entries[index];
        &self.bytes[e.start..e.start + e.len]
    }

    pub(super) fn value(&self, index: usize) -> &V {
        &self.entries[index].value
    }

    pub(super) fn value_mut(&mut self, index: usize) -> &mut V {
        &mut self.entries[index].value
    }

    /// `(key, value)` of every entry, in the order they were added.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.entries
            .iter()
            .map(|e| (&self.bytes[e.start..e.start + e.len], &e.value))
    }
}

/// Whether `a` and `b` hold the same bytes. Up to 16 bytes are compared
/// in two (overlapping) words rather than by a `memcmp` call; empty slices
/// are never handed to `memcmp`, whose masked load from an empty slice's
/// dangling pointer costs a microcode assist on AVX-512 machines.
#[inline(always)]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => half_word(a, 0) == half_word(b, 0) && half_word(a, n - 4) == half_word(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Whether `stored` is `parts` one after the other.
#[inline]
pub(super) fn is_concat(stored: &[u8], parts: &[&[u8]]) -> bool {
    let mut rest = stored;
    for part in parts {
        let Some((head, tail)) = rest.split_at_checked(part.len()) else {
            return false;
        };
        if !same_bytes(head, part) {
            return false;
        }
        rest = tail;
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_byte_and_the_length() {
        let base: Vec<u8> = (0u8..40).collect();
        for n in 0..base.len() {
            let h = hash_bytes(&base[..n], 7);
            for i in 0..n {
                let mut changed = base[..n].to_vec();
                changed[i] ^= 1;
                assert_ne!(hash_bytes(&changed, 7), h, "length {n}, byte {i}");
            }
            if n > 0 {
                assert_ne!(hash_bytes(&base[..n - 1], 7), h, "length {n}");
            }
            assert_ne!(hash_bytes(&base[..n], 8), h, "seed, length {n}");
        }
    }

    #[test]
    fn set_hash_depends_on_the_suffix() {
        assert_ne!(set_hash(1, b"_sum"), set_hash(1, b"_count"));
        assert_ne!(set_hash(1, b""), set_hash(2, b""));
    }

    #[test]
    fn table_compares_keys_under_one_hash() {
        let mut t: KeyTable<u32> = KeyTable::default();
        let add = |t: &mut KeyTable<u32>, k: &'static [u8]| {
            t.find_or_add(5, |s| s == k, |out| out.extend_from_slice(k))
        };
        assert_eq!(add(&mut t, b"a"), (0, true));
        assert_eq!(add(&mut t, b"b"), (1, true));
        assert_eq!(add(&mut t, b"a"), (0, false));
        assert_eq!(add(&mut t, b"b"), (1, false));
        assert_eq!(add(&mut t, b""), (2, true));
        assert_eq!(add(&mut t, b""), (2, false));
        *t.value_mut(1) = 9;
        let all: Vec<_> = t.iter().map(|(k, v)| (k.to_vec(), *v)).collect();
        assert_eq!(all, [(b"a".to_vec(), 0), (b"b".to_vec(), 9), (vec![], 0)]);
        t.clear();
        assert_eq!(add(&mut t, b"b"), (0, true));
    }

    #[test]
    fn same_bytes_at_every_length() {
        let a: Vec<u8> = (0u8..40).collect();
        for n in 0..a.len() {
            assert!(same_bytes(&a[..n], &a[..n]));
            assert!(!same_bytes(&a[..n], &a[..n + 1]));
            for i in 0..n {
                let mut b = a[..n].to_vec();
                b[i] ^= 0x80;
                assert!(!same_bytes(&a[..n], &b), "length {n}, byte {i}");
            }
        }
    }

    #[test]
    fn concat_matches_parts_exactly() {
        assert!(is_concat(b"abc", &[b"a", b"", b"bc"]));
        assert!(is_concat(b"", &[b"", b""]));
        assert!(!is_concat(b"abc", &[b"a", b"b"]));
        assert!(!is_concat(b"ab", &[b"a", b"bc"]));
        assert!(!is_concat(b"abd", &[b"a", b"bc"]));
    }
}
