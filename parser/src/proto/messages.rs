//! The small messages inside a `Metric`: label pairs, `Timestamp` and
//! `BucketSpan` (two varints), exemplars, gauge/counter/untyped values,
//! histogram buckets and summary quantiles, each checked the way
//! `Unmarshal` checks it.
//!
//! Each message has a generic walk (`*_walk`, `check_two_varints`) and a
//! fast path for its canonical encoding. The fast paths handle the fields
//! a well-formed body has, matched on their one-byte tag (field number and
//! wire type together), and leave everything else (other wire types, long
//! lengths, truncation, unknown fields) to the generic walk of the same
//! field. Each one either accepts a field the generic walk accepts with
//! the same result, or declines before changing any state, so errors and
//! counts are the generic walk's. The walks stay as they were before the
//! fast paths, and `proto/tests.rs` checks the two against each other.

use super::wire::{WResult, bytes, double, fixed64_end, short_len, varint, varint_end, walk};

/// A label pair's name and value, when it is the canonical encoding (name
/// then value).
#[inline(always)]
pub(super) fn label_pair_fast(b: &[u8]) -> Option<(&[u8], &[u8])> {
    if b.first() == Some(&0x0a)
        && let Some((name_start, name_end)) = short_len(b, 1)
        && b.get(name_end) == Some(&0x12)
        && let Some((value_start, value_end)) = short_len(b, name_end + 1)
        && value_end == b.len()
    {
        return Some((&b[name_start..name_end], &b[value_start..value_end]));
    }
    None
}

#[inline]
pub(super) fn check_label_pair(b: &[u8]) -> WResult<(&[u8], &[u8])> {
    match label_pair_fast(b) {
        Some(pair) => Ok(pair),
        None => label_pair_walk(b),
    }
}

#[inline(never)]
pub(super) fn label_pair_walk(b: &[u8]) -> WResult<(&[u8], &[u8])> {
    let (mut name, mut value): (&[u8], &[u8]) = (&[], &[]);
    walk(b, |f, v, at| {
        match f {
            1 => name = bytes(v, at)?,
            2 => value = bytes(v, at)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((name, value))
}

/// A message whose fields 1 and 2 are varints: `google.protobuf.Timestamp`
/// (seconds, nanos) and `BucketSpan` (offset, length).
pub(super) fn check_two_varints(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        if f == 1 || f == 2 {
            varint(v, at)?;
        }
        Ok(())
    })
}

/// Whether [`check_two_varints`] accepts `b`, when its fields are the
/// canonical ones (`None` otherwise).
#[inline]
fn two_varints_ok(b: &[u8]) -> Option<()> {
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x08 | 0x10 => varint_end(b, p + 1)?,
            _ => return None,
        };
    }
    Some(())
}

fn check_exemplar(b: &[u8]) -> WResult<()> {
    if exemplar_ok(b).is_some() {
        return Ok(());
    }
    exemplar_walk(b)
}

/// [`check_exemplar`] without fast paths, for an exemplar they decline
/// (and the tests' reference walk).
pub(super) fn exemplar_walk(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        match f {
            1 => {
                label_pair_walk(bytes(v, at)?)?;
            }
            2 => {
                double(v, at)?;
            }
            3 => check_two_varints(bytes(v, at)?)?,
            _ => {}
        }
        Ok(())
    })
}

/// Whether [`check_exemplar`] accepts `b`, when its fields are the
/// canonical ones (`None` otherwise, or when it is rejected).
#[inline]
fn exemplar_ok(b: &[u8]) -> Option<()> {
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x0a => {
                let (s, e) = short_len(b, p + 1)?;
                check_label_pair(&b[s..e]).ok()?;
                e
            }
            0x11 => fixed64_end(b, p + 1)?,
            0x1a => {
                let (s, e) = short_len(b, p + 1)?;
                two_varints_ok(&b[s..e])?;
                e
            }
            _ => return None,
        };
    }
    Some(())
}

pub(super) fn check_value_msg(b: &[u8], with_exemplar: bool) -> WResult<f64> {
    value_msg_walk(b, with_exemplar, check_exemplar)
}

/// The walk of a gauge, counter or untyped value message, checking its
/// exemplar (when `with_exemplar`) with `exemplar`.
pub(super) fn value_msg_walk(
    b: &[u8],
    with_exemplar: bool,
    exemplar: impl Fn(&[u8]) -> WResult<()>,
) -> WResult<f64> {
    let mut value = 0.0;
    walk(b, |f, v, at| {
        match f {
            1 => value = double(v, at)?,
            2 if with_exemplar => exemplar(bytes(v, at)?)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(value)
}

/// [`check_value_msg`] without the value.
#[inline]
pub(super) fn value_msg_ok(b: &[u8], with_exemplar: bool) -> WResult<()> {
    // A gauge, counter or untyped value alone: field 1, a double.
    if b.len() == 9 && b[0] == 0x09 {
        return Ok(());
    }
    check_value_msg(b, with_exemplar).map(|_| ())
}

/// Scalars of one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Bucket {
    pub(super) count: u64,
    pub(super) count_float: f64,
    pub(super) upper: f64,
}

pub(super) fn check_bucket(b: &[u8]) -> WResult<Bucket> {
    bucket_walk(b, check_exemplar)
}

/// The walk of a bucket, checking its exemplar with `exemplar`.
pub(super) fn bucket_walk(b: &[u8], exemplar: impl Fn(&[u8]) -> WResult<()>) -> WResult<Bucket> {
    let mut bk = Bucket::default();
    walk(b, |f, v, at| {
        match f {
            1 => bk.count = varint(v, at)?,
            2 => bk.upper = double(v, at)?,
            3 => exemplar(bytes(v, at)?)?,
            4 => bk.count_float = double(v, at)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok(bk)
}

/// The upper bound of a bucket [`check_bucket`] accepts, when its fields
/// are the canonical ones (`None` otherwise, or when it is rejected).
#[inline(always)]
pub(super) fn bucket_upper(b: &[u8]) -> Option<f64> {
    // What client libraries write: `cumulative_count` then `upper_bound`,
    // told apart without a walk: the varint fills all but the last ten
    // bytes (its tag, the double and the double's tag). `short_buckets`
    // reads most of these first; this takes the rest (a 9- or 10-byte
    // count). Without it the `short_buckets` loop compiles to more
    // instructions per bucket.
    let n = b.len();
    if (11..=20).contains(&n)
        && b[0] == 0x08
        && b[n - 9] == 0x11
        && let Some((&last, more)) = b[1..n - 9].split_last()
        && last < 0x80
        && more.iter().all(|&x| x >= 0x80)
    {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[n - 8..]);
        return Some(f64::from_le_bytes(a));
    }
    let mut upper = 0.0;
    let mut p = 0;
    while p < b.len() {
        p = match b[p] {
            0x08 => varint_end(b, p + 1)?,
            0x11 => {
                let end = fixed64_end(b, p + 1)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[p + 1..end]);
                upper = f64::from_le_bytes(a);
                end
            }
            0x21 => fixed64_end(b, p + 1)?,
            0x1a => {
                let (s, e) = short_len(b, p + 1)?;
                exemplar_ok(&b[s..e])?;
                e
            }
            _ => return None,
        };
    }
    Some(upper)
}

pub(super) fn check_quantile(b: &[u8]) -> WResult<()> {
    // Field 1 (quantile) and 2 (value), both doubles.
    if b.len() == 18 && b[0] == 0x09 && b[9] == 0x11 {
        return Ok(());
    }
    quantile_walk(b)
}

/// [`check_quantile`] without the fast path.
pub(super) fn quantile_walk(b: &[u8]) -> WResult<()> {
    walk(b, |f, v, at| {
        if f == 1 || f == 2 {
            double(v, at)?;
        }
        Ok(())
    })
}
