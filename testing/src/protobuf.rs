//! Protobuf wire-format encoding for test bodies, written from the
//! specification rather than taken from the parser under test, so that the
//! two cannot share a mistake.

/// Appends `value` as a base-128 varint: seven bits a byte, least
/// significant group first, the high bit set on every byte but the last.
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value.to_le_bytes()[0] | 0x80);
        value >>= 7;
    }
    out.push(value.to_le_bytes()[0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_specification_examples() {
        let mut out = Vec::new();
        for value in [0, 1, 127, 128, 150, 300] {
            varint(&mut out, value);
        }
        assert_eq!(out, [0x00, 0x01, 0x7f, 0x80, 0x01, 0x96, 0x01, 0xac, 0x02]);
    }

    #[test]
    fn the_largest_value_takes_ten_bytes() {
        let mut out = Vec::new();
        varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        assert!(out[..9].iter().all(|byte| byte & 0x80 != 0));
        assert_eq!(out[9], 0x01);
    }
}
