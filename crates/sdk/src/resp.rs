//! RESP, the Redis wire format: commands are encoded as arrays of bulk strings, replies are
//! decoded into [`RespValue`].
//!
//! Decoding understands RESP2 (`+ - : $ *`) and the RESP3 scalars `_` (null), `#`
//! (boolean) and `,` (double). Conversions are lenient like the Go SDK's `resp.Value`:
//! [`RespValue::as_integer`] also parses a string reply (a Lua script's `ARGV[1]` comes back
//! as a bulk string).

use crate::error::{Error, Result};

/// One Redis reply.
#[derive(Debug, Clone, PartialEq)]
pub enum RespValue {
    /// `+OK`.
    Simple(String),
    /// `-ERR message` (the SDK turns a top-level error reply into [`Error::RedisReply`]; nested
    /// ones stay values).
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

/// Encodes a command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes one reply; bytes after it are an error.
pub fn decode(bytes: &[u8]) -> Result<RespValue> {
    let (value, used) = decode_at(bytes, 0, 0)?;
    if used != bytes.len() {
        return Err(Error::Decode(format!(
            "redis reply has {} bytes after the value",
            bytes.len() - used
        )));
    }
    Ok(value)
}

fn malformed(what: &str) -> Error {
    Error::Decode(format!("malformed redis reply: {what}"))
}

fn line(bytes: &[u8], at: usize) -> Result<(&[u8], usize)> {
    let rest = bytes.get(at..).ok_or_else(|| malformed("truncated"))?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| malformed("missing CRLF"))?;
    Ok((&rest[..end], at + end + 2))
}

fn number(text: &[u8]) -> Result<i64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("bad number"))
}

fn decode_at(bytes: &[u8], at: usize, depth: usize) -> Result<(RespValue, usize)> {
    if depth > 64 {
        return Err(malformed("nested too deeply"));
    }
    let kind = *bytes.get(at).ok_or_else(|| malformed("empty"))?;
    let (text, next) = line(bytes, at + 1)?;
    let lossy = || String::from_utf8_lossy(text).into_owned();
    Ok(match kind {
        b'+' => (RespValue::Simple(lossy()), next),
        b'-' => (RespValue::Error(lossy()), next),
        b':' => (RespValue::Integer(number(text)?), next),
        b'_' => (RespValue::Null, next),
        b'#' => (RespValue::Boolean(text == b"t"), next),
        // Kept as text: parsing floats here would link float parsing into every plugin.
        b',' => (RespValue::Double(lossy()), next),
        b'$' => {
            let len = number(text)?;
            if len < 0 {
                return Ok((RespValue::Null, next));
            }
            if len as usize > bytes.len() {
                return Err(malformed("bulk string length"));
            }
            let end = next + len as usize;
            if bytes.get(end..end + 2) != Some(b"\r\n") {
                return Err(malformed("bulk string length"));
            }
            (RespValue::Bulk(bytes[next..end].to_vec()), end + 2)
        }
        b'*' => {
            let len = number(text)?;
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
        other => return Err(malformed(&format!("unknown type byte {:?}", other as char))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_bulk_string_arrays() {
        assert_eq!(
            encode(&["SET", "k", "v"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        );
        assert_eq!(encode::<&[u8]>(&[]), b"*0\r\n");
        assert_eq!(5i64.to_arg(), b"5");
        assert_eq!(1.5f64.to_arg(), b"1.5");
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(decode(b"+OK\r\n").unwrap(), RespValue::Simple("OK".into()));
        assert_eq!(
            decode(b"-NOAUTH Authentication required.\r\n").unwrap(),
            RespValue::Error("NOAUTH Authentication required.".into())
        );
        assert_eq!(decode(b":-7\r\n").unwrap(), RespValue::Integer(-7));
        assert_eq!(decode(b"$-1\r\n").unwrap(), RespValue::Null);
        assert_eq!(decode(b"*-1\r\n").unwrap(), RespValue::Null);
        assert_eq!(decode(b"$0\r\n\r\n").unwrap(), RespValue::Bulk(vec![]));
        assert_eq!(
            decode(b"$4\r\na\r\nb\r\n").unwrap(),
            RespValue::Bulk(b"a\r\nb".to_vec())
        );
        let v = decode(b"*3\r\n$4\r\n1000\r\n:1001\r\n:60\r\n").unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items[0].as_integer(), Some(1000));
        assert_eq!(items[1].as_integer(), Some(1001));
        assert_eq!(decode(b"#t\r\n").unwrap(), RespValue::Boolean(true));
        assert_eq!(decode(b",1.5\r\n").unwrap().as_float(), Some(1.5));
        assert_eq!(decode(b"_\r\n").unwrap(), RespValue::Null);
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
    }
}
