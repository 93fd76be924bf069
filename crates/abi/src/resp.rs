//! RESP, the Redis wire format, for both sides of a plugin's Redis calls: the SDK encodes
//! commands and decodes replies; the gateway's Redis pool encodes its own setup commands and
//! finds where one reply ends in the bytes a connection has read so far.
//!
//! - [`command`]: a command as a RESP array of bulk strings.
//! - [`decode`]: one reply into a [`RespValue`] (RESP2 `+ - : $ *` and the RESP3 scalars `_`
//!   null, `#` boolean and `,` double).
//! - [`value_end`]: where the complete value at the start of a buffer ends (`None` while it
//!   is incomplete).
//!
//! Conversions are lenient like the Go SDK's `resp.Value`: [`RespValue::as_integer`] also
//! parses a string reply (a Lua script's `ARGV[1]` comes back as a bulk string).

use std::fmt;

/// Values nested deeper than this are refused (a hostile reply cannot exhaust the stack).
const MAX_DEPTH: usize = 64;

/// One Redis reply.
#[derive(Debug, Clone, PartialEq)]
pub enum RespValue {
    /// `+OK`.
    Simple(String),
    /// `-ERR message` (the SDK turns a top-level error reply into an error; nested ones stay
    /// values).
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: bytes (not necessarily UTF-8).
    Bulk(Vec<u8>),
    /// `$-1`, `*-1` or RESP3 `_`.
    Null,
    /// `*2 …`.
    Array(Vec<RespValue>),
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `,1.5`, as its text (parsed by [`as_float`](Self::as_float)).
    Double(String),
}

impl RespValue {
    /// Whether this is a null reply (a missing key, an empty pop, …).
    pub fn is_null(&self) -> bool {
        matches!(self, RespValue::Null)
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, RespValue::Error(_))
    }

    /// The value as an integer: integers, booleans, and strings that parse as one (`None`
    /// otherwise).
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            RespValue::Integer(i) => Some(*i),
            RespValue::Boolean(b) => Some(*b as i64),
            RespValue::Double(d) => d.parse().ok(),
            RespValue::Simple(s) => s.trim().parse().ok(),
            RespValue::Bulk(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a float: doubles, integers and numeric strings.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            RespValue::Double(d) => match d.as_str() {
                "inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                d => d.parse().ok(),
            },
            RespValue::Integer(i) => Some(*i as f64),
            RespValue::Simple(s) => s.trim().parse().ok(),
            RespValue::Bulk(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as text: simple and bulk strings (lossy UTF-8), integers, doubles and
    /// error messages; `None` for null and arrays.
    pub fn as_string(&self) -> Option<String> {
        match self {
            RespValue::Simple(s) | RespValue::Error(s) => Some(s.clone()),
            RespValue::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            RespValue::Integer(i) => Some(i.to_string()),
            RespValue::Double(d) => Some(d.clone()),
            RespValue::Boolean(b) => Some(b.to_string()),
            RespValue::Null | RespValue::Array(_) => None,
        }
    }

    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            RespValue::Bulk(b) => Some(b),
            RespValue::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The elements of an array reply.
    pub fn as_array(&self) -> Option<&[RespValue]> {
        match self {
            RespValue::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value as a boolean: `:1`/`:0`, RESP3 booleans, `+OK`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            RespValue::Boolean(b) => Some(*b),
            RespValue::Integer(i) => Some(*i != 0),
            RespValue::Simple(s) => Some(s == "OK"),
            _ => None,
        }
    }
}

/// A command argument: encoded as the bytes of its text (as the Go SDK's `fmt.Sprint`).
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> Vec<u8>;
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Vec<u8> {
        (**self).to_arg()
    }
}

impl ToArg for str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl ToArg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl ToArg for [u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}

impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}

macro_rules! display_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}

display_arg!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64, bool);

/// Encodes a command (`["SET", "k", "v"]`) as a RESP array of bulk strings.
pub fn command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Why a reply could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end before the value does.
    Truncated,
    /// A header line is not a number where one is needed (`:x`, `$y`).
    BadNumber,
    /// A bulk string is not followed by CRLF at its stated length.
    BadBulkLength,
    /// A type byte RESP does not define.
    UnknownType(u8),
    /// Arrays nested deeper than the decoder accepts.
    TooDeep,
    /// Bytes follow the value.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed redis reply: ")?;
        match self {
            DecodeError::Truncated => f.write_str("truncated"),
            DecodeError::BadNumber => f.write_str("bad number"),
            DecodeError::BadBulkLength => f.write_str("bulk string length"),
            DecodeError::UnknownType(b) => write!(f, "unknown type byte {:?}", *b as char),
            DecodeError::TooDeep => f.write_str("nested too deeply"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes after the value"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one reply; bytes after it are an error.
pub fn decode(bytes: &[u8]) -> Result<RespValue, DecodeError> {
    let (value, used) = decode_at(bytes, 0, 0)?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes(bytes.len() - used));
    }
    Ok(value)
}

/// Where the complete RESP value at the start of `buf` ends (the index after its last
/// byte), or `None` while `buf` holds only part of it. A value with a malformed header
/// line (a bad length, an unknown type) ends with that line: the caller gets the bytes
/// and [`decode`] says what is wrong with them.
pub fn value_end(buf: &[u8]) -> Option<usize> {
    match end_at(buf, 0, 0) {
        Ok(end) => Some(end),
        Err(Scan::Incomplete) => None,
        Err(Scan::Malformed(end)) => Some(end),
    }
}

/// Why [`end_at`] stopped: more bytes are needed, or the value is malformed and taken to
/// end at the given index.
enum Scan {
    Incomplete,
    Malformed(usize),
}

/// The header line at `at`: its text after the type byte, and the index after its CRLF.
fn line(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(at..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..end], at + end + 2))
}

fn number(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn end_at(buf: &[u8], at: usize, depth: usize) -> Result<usize, Scan> {
    let kind = *buf.get(at).ok_or(Scan::Incomplete)?;
    let (text, next) = line(buf, at + 1).ok_or(Scan::Incomplete)?;
    match kind {
        b'$' => {
            let len = number(text).ok_or(Scan::Malformed(next))?;
            if len < 0 {
                return Ok(next);
            }
            let end = next
                .checked_add(len as usize)
                .and_then(|e| e.checked_add(2))
                .ok_or(Scan::Malformed(next))?;
            if buf.len() >= end {
                Ok(end)
            } else {
                Err(Scan::Incomplete)
            }
        }
        b'*' => {
            let count = number(text).ok_or(Scan::Malformed(next))?;
            if depth >= MAX_DEPTH {
                return Err(Scan::Malformed(next));
            }
            let mut end = next;
            for _ in 0..count.max(0) {
                end = end_at(buf, end, depth + 1)?;
            }
            Ok(end)
        }
        _ => Ok(next),
    }
}

fn decode_at(bytes: &[u8], at: usize, depth: usize) -> Result<(RespValue, usize), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let kind = *bytes.get(at).ok_or(DecodeError::Truncated)?;
    let (text, next) = line(bytes, at + 1).ok_or(DecodeError::Truncated)?;
    let lossy = || String::from_utf8_lossy(text).into_owned();
    let integer = || number(text).ok_or(DecodeError::BadNumber);
    Ok(match kind {
        b'+' => (RespValue::Simple(lossy()), next),
        b'-' => (RespValue::Error(lossy()), next),
        b':' => (RespValue::Integer(integer()?), next),
        b'_' => (RespValue::Null, next),
        b'#' => (RespValue::Boolean(text == b"t"), next),
        // Kept as text: parsing floats here would link float parsing into every plugin.
        b',' => (RespValue::Double(lossy()), next),
        b'$' => {
            let len = integer()?;
            if len < 0 {
                return Ok((RespValue::Null, next));
            }
            if len as usize > bytes.len() {
                return Err(DecodeError::BadBulkLength);
            }
            let end = next + len as usize;
            if bytes.get(end..end + 2) != Some(b"\r\n") {
                return Err(DecodeError::BadBulkLength);
            }
            (RespValue::Bulk(bytes[next..end].to_vec()), end + 2)
        }
        b'*' => {
            let len = integer()?;
            if len < 0 {
                return Ok((RespValue::Null, next));
            }
            let mut items = Vec::with_capacity((len as usize).min(1024));
            let mut at = next;
            for _ in 0..len {
                let (item, after) = decode_at(bytes, at, depth + 1)?;
                items.push(item);
                at = after;
            }
            (RespValue::Array(items), at)
        }
        other => return Err(DecodeError::UnknownType(other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_bulk_string_arrays() {
        assert_eq!(
            command(&["SET", "k", "v"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
        assert_eq!(command::<&[u8]>(&[]), b"*0\r\n");
        assert_eq!(5i64.to_arg(), b"5");
        assert_eq!(1.5f64.to_arg(), b"1.5");
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(decode(b"+OK\r\n"), Ok(RespValue::Simple("OK".into())));
        assert_eq!(
            decode(b"-NOAUTH Authentication required.\r\n"),
            Ok(RespValue::Error("NOAUTH Authentication required.".into()))
        );
        assert_eq!(decode(b":-7\r\n"), Ok(RespValue::Integer(-7)));
        assert_eq!(decode(b"$-1\r\n"), Ok(RespValue::Null));
        assert_eq!(decode(b"*-1\r\n"), Ok(RespValue::Null));
        assert_eq!(decode(b"$0\r\n\r\n"), Ok(RespValue::Bulk(vec![])));
        assert_eq!(
            decode(b"$4\r\na\r\nb\r\n"),
            Ok(RespValue::Bulk(b"a\r\nb".to_vec()))
        );
        let v = decode(b"*3\r\n$4\r\n1000\r\n:1001\r\n:60\r\n").expect("an array");
        let items = v.as_array().expect("an array");
        assert_eq!(items[0].as_integer(), Some(1000));
        assert_eq!(items[1].as_integer(), Some(1001));
        assert_eq!(decode(b"#t\r\n"), Ok(RespValue::Boolean(true)));
        assert_eq!(decode(b",1.5\r\n").map(|v| v.as_float()), Ok(Some(1.5)));
        assert_eq!(decode(b"_\r\n"), Ok(RespValue::Null));
    }

    #[test]
    fn rejects_malformed_replies() {
        for bad in [
            &b""[..],
            b"+OK",
            b"$5\r\nab\r\n",
            b":x\r\n",
            b"*2\r\n:1\r\n",
            b"?\r\n",
            b"+OK\r\n+OK\r\n",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            decode(b"+OK\r\n:1\r\n").unwrap_err().to_string(),
            "malformed redis reply: 4 bytes after the value"
        );
    }

    #[test]
    fn finds_the_end_of_a_complete_value() {
        assert_eq!(value_end(b"+OK\r\n"), Some(5));
        assert_eq!(value_end(b"+OK\r\n:1\r\n"), Some(5));
        assert_eq!(value_end(b"$3\r\nabc\r\n"), Some(9));
        assert_eq!(value_end(b"$3\r\nab"), None);
        assert_eq!(value_end(b"$-1\r\n"), Some(5));
        assert_eq!(value_end(b"*2\r\n:1\r\n$-1\r\n"), Some(13));
        assert_eq!(value_end(b"*2\r\n:1\r\n"), None);
        assert_eq!(value_end(b"*2\r\n:1"), None);
        assert_eq!(value_end(b""), None);
        assert_eq!(value_end(b"+OK"), None);
        // A malformed header ends the value at its line, for decode to report.
        assert_eq!(value_end(b"$x\r\nmore"), Some(4));
        assert!(decode(&b"$x\r\nmore"[..4]).is_err());
    }
}
