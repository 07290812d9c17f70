//! Byte-level scanning shared by the text parsers: the character classes of
//! metric and label names and blanks, and the word-at-a-time tests.
//!
//! Names and quoted strings are most of a line's bytes, so they are scanned
//! eight bytes per step: a 256-entry class table ANDed over a word for
//! names, and SWAR bit tricks on a little-endian `u64` for quoted strings
//! and label names (no `unsafe`, no target features). Everything here is
//! `#[inline]`: the callers are the per-line hot loops.

pub(super) const NAME_START: u8 = 1; // [a-zA-Z_:]
pub(super) const NAME_CONT: u8 = 2; // [a-zA-Z0-9_:]
pub(super) const LNAME_START: u8 = 4; // [a-zA-Z_]
pub(super) const LNAME_CONT: u8 = 8; // [a-zA-Z0-9_]

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        #[allow(clippy::cast_possible_truncation)] // c < 256
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut v = 0;
        if alpha || b == b':' {
            v |= NAME_START | NAME_CONT;
        }
        if digit {
            v |= NAME_CONT | LNAME_CONT;
        }
        if alpha {
            v |= LNAME_START | LNAME_CONT;
        }
        t[c] = v;
        c += 1;
    }
    t
};

#[inline]
pub(super) fn class(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

#[inline]
pub(super) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
pub(super) fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_ws(line[i]) {
        i += 1;
    }
    i
}

/// Index of the first byte at or after `i` not in the class `bit`. Tests
/// eight bytes per step with one branch (names are long: `..._bucket`).
#[inline]
pub(super) fn scan_class(line: &[u8], mut i: usize, bit: u8) -> usize {
    while let Some(w) = line.get(i..i + 8) {
        let all = class(w[0])
            & class(w[1])
            & class(w[2])
            & class(w[3])
            & class(w[4])
            & class(w[5])
            & class(w[6])
            & class(w[7]);
        if all & bit == 0 {
            break;
        }
        i += 8;
    }
    while i < line.len() && class(line[i]) & bit != 0 {
        i += 1;
    }
    i
}

/// The first 8 bytes at `i`, little-endian, if there are 8 (one bounds
/// check: fewer instructions per word than `get(i..)` and `first_chunk`).
#[inline(always)]
pub(super) fn word_at(line: &[u8], i: usize) -> Option<u64> {
    let w = line.get(i..i + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(w);
    Some(u64::from_le_bytes(a))
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is `"`, `\\` or non-ASCII (exact for
/// the lowest such byte, which is all the caller uses).
#[inline(always)]
pub(super) fn special_bytes(x: u64) -> u64 {
    let q = x ^ (LO * u64::from(b'"'));
    let bs = x ^ (LO * u64::from(b'\\'));
    ((q.wrapping_sub(LO) & !q) | (bs.wrapping_sub(LO) & !bs) | x) & HI
}

/// High bit set in each byte of `x` that is not `[a-zA-Z0-9_]` (exact per
/// byte: the sums below never carry across bytes, since non-ASCII bytes are
/// masked off first and flagged on their own).
#[inline(always)]
fn non_label_name_bytes(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let a = x & LOW7;
    // Letters: with bit 5 set, both cases fall in 'a'..='z'.
    let l = a | (LO * 0x20);
    let letter = l.wrapping_add(LO * (0x80 - u64::from(b'a')))
        & !l.wrapping_add(LO * (0x80 - u64::from(b'z') - 1));
    let digit = a.wrapping_add(LO * (0x80 - u64::from(b'0')))
        & !a.wrapping_add(LO * (0x80 - u64::from(b'9') - 1));
    let u = a ^ (LO * u64::from(b'_'));
    let underscore = !u.wrapping_add(LOW7);
    !((letter | digit | underscore) & !x) & HI
}

/// End of the label name whose first byte (already checked) is at `i - 1`.
#[inline(always)]
pub(crate) fn label_name_end(line: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(line, i) {
        let m = non_label_name_bytes(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    scan_class(line, i, LNAME_CONT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_name_bytes_word_matches_the_class_table() {
        for b in 0..=255u8 {
            for at in 0..8 {
                let mut w = [b'a'; 8];
                w[at] = b;
                // Neighbours that could borrow or carry into the byte.
                for fill in [
                    b'a', b'_', b'0', b'9', b'z', b'Z', 0x80, 0xff, 0, b'`', b'{',
                ] {
                    for (k, slot) in w.iter_mut().enumerate() {
                        if k != at {
                            *slot = fill;
                        }
                    }
                    let m = non_label_name_bytes(u64::from_le_bytes(w));
                    for (k, &c) in w.iter().enumerate() {
                        let flagged = m >> (k * 8 + 7) & 1 == 1;
                        assert_eq!(flagged, class(c) & LNAME_CONT == 0, "{w:?} byte {k}");
                    }
                }
            }
        }
    }
}
