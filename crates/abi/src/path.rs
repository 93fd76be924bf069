//! The property-path format: segments joined by `\0`, with no trailing NUL.

/// Joins path segments (`["request", "headers", "x-foo"]` → `request\0headers\0x-foo`).
pub fn encode<S: AsRef<[u8]>>(segments: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(s.as_ref());
    }
    out
}

/// Splits a path into segments. A trailing NUL, which some SDKs send, is ignored.
pub fn decode(raw: &[u8]) -> Vec<&[u8]> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0).collect()
}

/// The path as dotted text (`request.headers.x-foo`), for lookups and messages.
pub fn dotted(raw: &[u8]) -> String {
    decode(raw)
        .iter()
        .map(|s| String::from_utf8_lossy(s))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_splits() {
        let raw = encode(&["request", "headers", "x-foo"]);
        assert_eq!(raw, b"request\0headers\0x-foo");
        assert_eq!(decode(&raw), vec![&b"request"[..], b"headers", b"x-foo"]);
        assert_eq!(dotted(&raw), "request.headers.x-foo");
    }

    #[test]
    fn trailing_nul_is_ignored() {
        assert_eq!(decode(b"route_name\0"), vec![&b"route_name"[..]]);
        assert!(decode(b"").is_empty());
    }
}
