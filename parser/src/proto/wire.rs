//! The protobuf wire format as the parser reads it: varints, field tags and
//! values ([`Wire`]), the generic walk over a message's fields ([`walk`],
//! [`walk_from`]), the typed accessors that reject a wrong wire type, and
//! the varint length prefix that delimits each `MetricFamily` in a body.
//!
//! Errors are what gogo-protobuf's `Unmarshal` rejects, at the offset of
//! the field ([`WireError`]); one that more bytes could complete is marked
//! `eof`, so a message that arrives in pieces can wait for the rest.
//! [`varint_end`], [`fixed64_end`] and [`short_len`] peek at canonical
//! encodings for the fast paths of the other files without building a
//! [`Wire`].

/// A field value on the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
    Group,
}

/// A wire-level problem: byte offset within the buffer walked, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WireError {
    pub(crate) offset: usize,
    pub(crate) what: &'static str,
    /// The buffer ended inside the field: more bytes could complete it.
    pub(crate) eof: bool,
}

pub(super) type WResult<T> = Result<T, WireError>;

/// The low 32 bits as an `int32`, as Go's generated decoders accumulate.
pub(super) fn low_i32(v: u64) -> i32 {
    let b = v.to_le_bytes();
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn err<T>(offset: usize, what: &'static str) -> WResult<T> {
    Err(WireError {
        offset,
        what,
        eof: false,
    })
}

/// The buffer ended inside a field.
fn eof<T>(offset: usize, what: &'static str) -> WResult<T> {
    Err(WireError {
        offset,
        what,
        eof: true,
    })
}

#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> WResult<u64> {
    // Tags and most lengths are one byte; metric lengths are often two.
    if let Some(&b) = buf.get(*pos)
        && b < 0x80
    {
        *pos += 1;
        return Ok(u64::from(b));
    }
    if let Some(&[b0, b1]) = buf.get(*pos..*pos + 2)
        && b1 < 0x80
    {
        *pos += 2;
        return Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
    }
    read_varint_slow(buf, pos)
}

#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize) -> WResult<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        if shift >= 64 {
            return err(*pos, "a varint of at most 10 bytes");
        }
        let Some(&b) = buf.get(*pos) else {
            return eof(*pos, "more bytes (truncated varint)");
        };
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
        shift += 7;
    }
}

pub(super) fn skip_group(buf: &[u8], pos: &mut usize) -> WResult<()> {
    let mut depth = 1u32;
    while depth > 0 {
        let start = *pos;
        let tag = read_varint(buf, pos)?;
        match tag & 7 {
            0 => {
                read_varint(buf, pos)?;
            }
            1 => *pos += 8,
            2 => {
                let len = read_varint(buf, pos)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= isize::MAX as usize);
                let Some(len) = len else {
                    return err(start, "a valid length");
                };
                *pos = pos.saturating_add(len);
            }
            3 => depth += 1,
            4 => depth -= 1,
            5 => *pos += 4,
            _ => return err(start, "a known wire type"),
        }
        if *pos > buf.len() {
            return eof(start, "more bytes (truncated field)");
        }
    }
    Ok(())
}

/// Calls `f(field, value, offset)` for every field of a message.
#[inline]
pub(crate) fn walk<'a>(
    buf: &'a [u8],
    f: impl FnMut(u32, Wire<'a>, usize) -> WResult<()>,
) -> WResult<()> {
    walk_from(buf, true, 0, f).map(|_| ())
}

/// [`walk`] over a piece of a message that starts at byte `base` of it
/// (offsets passed to `f` and in errors are message offsets). When
/// `to_end` is false the message goes on after `buf`: a field cut off by the
/// end of `buf` is left for later and the walk stops before it. Returns the
/// bytes walked (all of `buf` when `to_end`).
#[inline]
pub(crate) fn walk_from<'a>(
    buf: &'a [u8],
    to_end: bool,
    base: usize,
    mut f: impl FnMut(u32, Wire<'a>, usize) -> WResult<()>,
) -> WResult<usize> {
    let mut pos = 0usize;
    while pos < buf.len() {
        let start = pos;
        let field = match read_field(buf, &mut pos) {
            Ok(x) => x,
            Err(e) if e.eof && !to_end => return Ok(start),
            Err(e) => {
                return Err(WireError {
                    offset: base + e.offset,
                    ..e
                });
            }
        };
        f(field.0, field.1, base + start)?;
    }
    Ok(pos)
}

/// Reads the field at `*pos`: its number and value.
#[inline(always)]
pub(super) fn read_field<'a>(buf: &'a [u8], pos: &mut usize) -> WResult<(u32, Wire<'a>)> {
    let start = *pos;
    let tag = read_varint(buf, pos)?;
    let wt = tag & 7;
    // gogo reads the field number into an int32: high bits are dropped.
    let field = low_i32(tag >> 3);
    if wt == 4 {
        return err(start, "a field (found end-group outside a group)");
    }
    if field <= 0 {
        return err(start, "a positive field number");
    }
    let field = field.unsigned_abs();
    let v = match wt {
        0 => Wire::Varint(read_varint(buf, pos)?),
        1 => {
            let Some(b) = buf.get(*pos..*pos + 8) else {
                return eof(start, "8 more bytes (truncated fixed64)");
            };
            *pos += 8;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Wire::Fixed64(u64::from_le_bytes(a))
        }
        2 => {
            let len = read_varint(buf, pos)?;
            let Some(len) = usize::try_from(len)
                .ok()
                .filter(|&l| i64::try_from(l).is_ok())
            else {
                return err(start, "a length within the message");
            };
            let end = match pos.checked_add(len) {
                Some(e) if e <= buf.len() => e,
                _ => return eof(start, "a length within the message"),
            };
            let b = &buf[*pos..end];
            *pos = end;
            Wire::Bytes(b)
        }
        3 => {
            skip_group(buf, pos)?;
            Wire::Group
        }
        5 => {
            if buf.len() < *pos + 4 {
                return eof(start, "4 more bytes (truncated fixed32)");
            }
            *pos += 4;
            Wire::Fixed32
        }
        _ => return err(start, "a known wire type"),
    };
    Ok((field, v))
}

/// How many bytes the field at the start of `buf` takes, as far as its
/// first bytes tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldLen {
    /// The whole field is this long (it may run past its message: walking
    /// it then reports the error).
    Known(usize),
    /// The tag or length varint is not complete yet.
    MoreHeader,
    /// Only walking to the end of the message tells (a group, or a field a
    /// walk rejects).
    Unknown,
}

/// [`FieldLen`] of the field at the start of `buf`.
pub(crate) fn field_len(buf: &[u8]) -> FieldLen {
    let mut pos = 0;
    let header = |r: WResult<u64>| match r {
        Ok(v) => Ok(v),
        Err(e) if e.eof => Err(FieldLen::MoreHeader),
        Err(_) => Err(FieldLen::Unknown),
    };
    let tag = match header(read_varint(buf, &mut pos)) {
        Ok(t) => t,
        Err(l) => return l,
    };
    match tag & 7 {
        0 => match header(read_varint(buf, &mut pos)) {
            Ok(_) => FieldLen::Known(pos),
            Err(l) => l,
        },
        1 => FieldLen::Known(pos + 8),
        5 => FieldLen::Known(pos + 4),
        2 => match header(read_varint(buf, &mut pos)) {
            Ok(len) => usize::try_from(len)
                .ok()
                .and_then(|l| l.checked_add(pos))
                .map_or(FieldLen::Unknown, FieldLen::Known),
            Err(l) => l,
        },
        _ => FieldLen::Unknown,
    }
}

pub(super) fn bytes<'a>(v: Wire<'a>, at: usize) -> WResult<&'a [u8]> {
    match v {
        Wire::Bytes(b) => Ok(b),
        _ => err(at, "wire type 2 for this field"),
    }
}

pub(super) fn varint(v: Wire<'_>, at: usize) -> WResult<u64> {
    match v {
        Wire::Varint(x) => Ok(x),
        _ => err(at, "wire type 0 for this field"),
    }
}

pub(super) fn double(v: Wire<'_>, at: usize) -> WResult<f64> {
    match v {
        Wire::Fixed64(x) => Ok(f64::from_bits(x)),
        _ => err(at, "wire type 1 for this field"),
    }
}

/// Validates a repeated packed-or-not scalar field; returns element count.
pub(super) fn repeated_scalar(v: Wire<'_>, at: usize, fixed64: bool) -> WResult<usize> {
    match (v, fixed64) {
        (Wire::Varint(_), false) | (Wire::Fixed64(_), true) => Ok(1),
        (Wire::Bytes(b), true) => {
            if b.len() % 8 != 0 {
                return err(at, "a packed double array of whole 8-byte values");
            }
            Ok(b.len() / 8)
        }
        (Wire::Bytes(b), false) => {
            let mut p = 0;
            let mut n = 0;
            while p < b.len() {
                read_varint(b, &mut p).map_err(|e| WireError {
                    offset: at,
                    what: e.what,
                    eof: false,
                })?;
                n += 1;
            }
            Ok(n)
        }
        _ => err(at, "the wire type of a repeated scalar"),
    }
}

/// The end of the varint starting at `p`, when it is complete and at most
/// 10 bytes long (what [`read_varint`] accepts).
#[inline(always)]
pub(super) fn varint_end(b: &[u8], p: usize) -> Option<usize> {
    for i in 0..10 {
        if *b.get(p + i)? < 0x80 {
            return Some(p + i + 1);
        }
    }
    None
}

/// The end of a fixed64 value starting at `p`, when it is all there.
#[inline(always)]
pub(super) fn fixed64_end(b: &[u8], p: usize) -> Option<usize> {
    let end = p + 8;
    (end <= b.len()).then_some(end)
}

/// The body of a length-delimited field whose length varint starts at `p`,
/// when that varint is one or two bytes (every field shorter than 16 KiB)
/// and the body is all there: `(body start, body end)`.
#[inline(always)]
pub(super) fn short_len(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let l0 = *b.get(p)?;
    let (len, start) = if l0 < 0x80 {
        (usize::from(l0), p + 1)
    } else {
        let l1 = *b.get(p + 1)?;
        if l1 >= 0x80 {
            return None;
        }
        (usize::from(l0 & 0x7f) | usize::from(l1) << 7, p + 2)
    };
    let end = start + len;
    (end <= b.len()).then_some((start, end))
}

/// Reads the varint length prefix at the start of `buf`: `Ok(None)` if more
/// bytes are needed, `Ok(Some((prefix_len, message_len)))` otherwise.
/// Prometheus rejects prefixes longer than 5 bytes.
pub(crate) fn length_prefix(buf: &[u8]) -> Result<Option<(usize, u64)>, &'static str> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(5) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok(Some((i + 1, v)));
        }
    }
    if buf.len() >= 5 {
        return Err("a length prefix of at most 5 bytes");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_varints_read_as_the_slow_path_does() {
        for b0 in 0..=255u8 {
            for b1 in 0..=255u8 {
                for buf in [&[b0, b1][..], &[b0, b1, 0x01], &[b0]] {
                    let (mut fast, mut slow) = (0, 0);
                    let got = read_varint(buf, &mut fast);
                    let want = read_varint_slow(buf, &mut slow);
                    assert_eq!((got, fast), (want, slow), "{buf:02x?}");
                }
            }
        }
    }
}
