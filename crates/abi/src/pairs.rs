//! The header-map wire format of proxy-wasm.
//!
//! Little-endian `u32 n`, then `n × (u32 key_len, u32 value_len)`, then for each pair
//! `key \0 value \0`. Used for header maps, local-response and callout headers, map-valued
//! properties and `proxy_get_upstream_hosts`. Keys and values are bytes: header values are
//! not always UTF-8.

/// Why a buffer is not a valid header map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed header map: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded header map: ordered (name, value) byte pairs.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A decoded header map that borrows its names and values from the wire bytes.
pub type BorrowedPairs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Encodes pairs into the wire format.
pub fn encode<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let data: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Decodes the wire format. An empty buffer (or a lone `0x00`) is the empty map.
pub fn decode(buf: &[u8]) -> Result<Pairs, DecodeError> {
    Ok(decode_borrowed(buf)?
        .into_iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect())
}

/// Decodes the wire format into slices of `buf`, copying nothing: for readers that keep
/// only a few entries.
pub fn decode_borrowed(buf: &[u8]) -> Result<BorrowedPairs<'_>, DecodeError> {
    if buf.len() < 4 {
        return if buf.iter().all(|b| *b == 0) {
            Ok(Vec::new())
        } else {
            Err(DecodeError("shorter than its 4-byte count"))
        };
    }
    let n = read_u32(buf, 0) as usize;
    let sizes_end = n
        .checked_mul(8)
        .and_then(|s| s.checked_add(4))
        .filter(|end| *end <= buf.len())
        .ok_or(DecodeError("count larger than the buffer"))?;
    let mut pairs = Vec::with_capacity(n);
    let mut at = sizes_end;
    for i in 0..n {
        let key_len = read_u32(buf, 4 + i * 8) as usize;
        let value_len = read_u32(buf, 8 + i * 8) as usize;
        let key = take(buf, &mut at, key_len)?;
        let value = take(buf, &mut at, value_len)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn take<'a>(buf: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], DecodeError> {
    let end = at
        .checked_add(len)
        .filter(|end| *end < buf.len())
        .ok_or(DecodeError("entry runs past the end"))?;
    if buf[end] != 0 {
        return Err(DecodeError("entry is not NUL-terminated"));
    }
    let slice = &buf[*at..end];
    *at = end + 1;
    Ok(slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_bytes_that_are_not_utf8() {
        let pairs = vec![
            (b":path".to_vec(), b"/a".to_vec()),
            (b"x-bin".to_vec(), vec![0xff, 0xfe]),
        ];
        assert_eq!(decode(&encode(&pairs)).unwrap(), pairs);
    }

    #[test]
    fn layout_matches_the_spec() {
        let bytes = encode(&[("a", "bc")]);
        assert_eq!(
            bytes,
            [1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, b'a', 0, b'b', b'c', 0]
        );
    }

    #[test]
    fn empty_forms_are_the_empty_map() {
        assert!(decode(&[]).unwrap().is_empty());
        assert!(decode(&[0]).unwrap().is_empty());
        assert!(decode(&encode::<&str, &str>(&[])).unwrap().is_empty());
    }

    #[test]
    fn malformed_buffers_are_errors_not_panics() {
        assert!(decode(&[5, 0, 0, 0]).is_err());
        assert!(decode(&[1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, b'a', 0]).is_err());
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0]).is_err());
        let mut bad = encode(&[("a", "b")]);
        let last = bad.len() - 1;
        bad[last] = b'x';
        assert!(decode(&bad).is_err());
    }
}
