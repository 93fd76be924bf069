//! The protobuf wire format, as far as the ABI's few messages need it: reading fields
//! (every malformed varint, length or wire type refuses the message; unknown fields and
//! groups are skipped, as a protobuf parser skips them) and writing varint and
//! length-delimited fields. Hand-written: the messages have two or three fields and this
//! crate has no runtime dependencies.

pub(crate) const VARINT: u8 = 0;
const FIXED64: u8 = 1;
pub(crate) const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// How deep groups may nest: protobuf's default recursion limit.
const MAX_GROUP_DEPTH: usize = 100;

/// Protobuf wire-format reading; every `None` means malformed.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field number and wire type; `Some(None)` at the end.
    pub(crate) fn tag(&mut self) -> Option<Option<(u32, u8)>> {
        if self.0.is_empty() {
            return Some(None);
        }
        let tag = u32::try_from(self.varint()?).ok()?;
        let field = tag >> 3;
        if field == 0 {
            return None;
        }
        Some(Some((field, (tag & 7) as u8)))
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    pub(crate) fn text(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_string)
    }

    /// Skips a field of any wire type; a group up to its matching end. Groups nested deeper
    /// than [`MAX_GROUP_DEPTH`] refuse the message, as protobuf parsers refuse them (a guest's
    /// bytes must not recurse the host's stack away).
    pub(crate) fn skip(&mut self, field: u32, wire: u8) -> Option<()> {
        self.skip_nested(field, wire, 0)
    }

    fn skip_nested(&mut self, field: u32, wire: u8, depth: usize) -> Option<()> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            START_GROUP if depth < MAX_GROUP_DEPTH => loop {
                let (inner, inner_wire) = self.tag()??;
                if inner_wire == END_GROUP {
                    return (inner == field).then_some(());
                }
                self.skip_nested(inner, inner_wire, depth + 1)?;
            },
            _ => None,
        }
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub(crate) fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_varint(out, u64::from(field << 3));
    put_varint(out, value);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, u64::from(field << 3) | u64::from(LEN));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}
