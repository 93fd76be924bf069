//! HTTP/1.1 request framing read as Envoy reads it, in front of hyper's parser: where each
//! request head ends, the checks Envoy makes that hyper does not (it would answer otherwise),
//! and how long each body is, so that the next head is found.
//!
//! Envoy refuses, where hyper would serve or answer otherwise: `Content-Length` beside
//! `Transfer-Encoding` (400), more than one `Content-Length` (400), a transfer coding other
//! than `chunked` (501), an HTTP version other than 1.1 (426; HTTP/1.0 too, unless Envoy is
//! told `accept_http_10`) and the HTTP/2 preface where only
//! HTTP/1.1 is spoken (400). Envoy unfolds obs-fold (a header
//! line that starts with a space or tab continues the one before, RFC 9112 5.2), which hyper
//! refuses: the scanner unfolds it in place. Everything else is hyper's to decide: a head
//! the scanner does not follow (malformed, too large, an upgrade, h2c) turns the rest of
//! the connection [`Framing::Opaque`], bytes passed as they come; hyper refuses a malformed
//! head and closes the connection, and an upgrade's tunnel is not HTTP.

use super::chunks::{next_chunk, Chunk, Step};

/// An answer Envoy gives to a head it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400: `Content-Length` with `Transfer-Encoding`, or two `Content-Length`s.
    BadRequest,
    /// 501: a transfer coding other than `chunked`.
    NotImplemented,
    /// 426: an HTTP version other than 1.1 (HTTP/1.0 too, as Envoy's default).
    UpgradeRequired,
}

impl Refusal {
    pub(crate) fn status(self) -> http::StatusCode {
        match self {
            Refusal::BadRequest => http::StatusCode::BAD_REQUEST,
            Refusal::NotImplemented => http::StatusCode::NOT_IMPLEMENTED,
            Refusal::UpgradeRequired => http::StatusCode::UPGRADE_REQUIRED,
        }
    }
}

/// Where the scanner is in the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Before a request head (empty lines before one pass, as RFC 9112 2.2 lets them).
    Head,
    /// In a body of known length: the bytes left.
    Fixed(u64),
    /// In a chunked body.
    Chunked(Chunk),
    /// Past what the scanner follows: bytes pass unchecked.
    Opaque,
}

/// What scanning some bytes gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// Every byte passes as it now is.
    All,
    /// The bytes from this offset are a head not yet whole: they wait for more.
    Unfinished(usize),
    /// The head at this offset is refused; the bytes before it pass.
    Refused(usize, Refusal),
}

/// Follows one connection's requests.
#[derive(Debug)]
pub(crate) struct Scanner {
    framing: Framing,
    rules: Rules,
    /// No head was seen yet: the HTTP/2 preface may come.
    first: bool,
    /// The preface starts HTTP/2 (a plain listener's h2c); otherwise it is refused, as
    /// Envoy refuses it on an HTTP/1.1-only connection.
    h2c: bool,
    /// The request heads passed so far.
    heads: u64,
}

/// What a connection's heads are held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// A head larger than this is hyper's to refuse (431).
    pub(crate) max_head: usize,
    /// HTTP/1.0 is served (Envoy's `accept_http_10`), not refused with 426.
    pub(crate) http10: bool,
}

/// HTTP/2's connection preface starts so: a client that speaks HTTP/2 with prior knowledge.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0";

impl Scanner {
    /// A scanner for a connection that starts with a request head or, when `h2c`, with
    /// the HTTP/2 preface.
    pub(crate) fn new(rules: Rules, h2c: bool) -> Scanner {
        Scanner {
            framing: Framing::Head,
            rules,
            first: true,
            h2c,
            heads: 0,
        }
    }

    /// A scanner that checks nothing (an HTTP/2 connection).
    pub(crate) fn opaque() -> Scanner {
        Scanner {
            framing: Framing::Opaque,
            rules: Rules {
                max_head: 0,
                http10: false,
            },
            first: false,
            h2c: false,
            heads: 0,
        }
    }

    pub(crate) fn framing(&self) -> Framing {
        self.framing
    }

    /// How many request heads passed: the index of the next one.
    pub(crate) fn heads(&self) -> u64 {
        self.heads
    }

    /// Gives up following the connection: what comes is hyper's to decide.
    pub(crate) fn give_up(&mut self) {
        self.framing = Framing::Opaque;
    }

    /// Scans `bytes`, the next the client sent, changing obs-fold in place.
    pub(crate) fn scan(&mut self, bytes: &mut [u8]) -> Scanned {
        let mut at = 0;
        while at < bytes.len() {
            match self.framing {
                Framing::Opaque => return Scanned::All,
                Framing::Fixed(left) => {
                    let taken = left.min((bytes.len() - at) as u64);
                    at += taken as usize;
                    self.framing = if taken == left {
                        Framing::Head
                    } else {
                        Framing::Fixed(left - taken)
                    };
                }
                Framing::Chunked(chunk) => at = self.chunked(chunk, bytes, at),
                Framing::Head => match self.head(&mut bytes[at..]) {
                    Head::Unfinished => return Scanned::Unfinished(at),
                    Head::Refused(refusal) => return Scanned::Refused(at, refusal),
                    Head::Passes(length, framing) => {
                        at += length;
                        self.framing = framing;
                    }
                },
            }
        }
        Scanned::All
    }

    /// Scans a chunked body from `at`; returns where it stopped (the end of the bytes, or
    /// of the body).
    fn chunked(&mut self, mut chunk: Chunk, bytes: &[u8], mut at: usize) -> usize {
        while at < bytes.len() {
            if let Chunk::Data(left) = chunk {
                let taken = left.min((bytes.len() - at) as u64);
                at += taken as usize;
                chunk = if taken == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - taken)
                };
                continue;
            }
            let byte = bytes[at];
            at += 1;
            match next_chunk(chunk, byte) {
                Some(Step::Within(next)) => chunk = next,
                Some(Step::BodyEnds) => {
                    self.framing = Framing::Head;
                    return at;
                }
                // hyper refuses the body and closes the connection.
                None => {
                    self.framing = Framing::Opaque;
                    return bytes.len();
                }
            }
        }
        self.framing = Framing::Chunked(chunk);
        at
    }

    /// Reads the head at the start of `bytes`. Empty lines before it pass first, on their
    /// own, so that what passes does not hang on how the client's bytes were split.
    fn head(&mut self, bytes: &mut [u8]) -> Head {
        let empty = bytes
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(bytes.len());
        if empty > 0 {
            return Head::Passes(empty, Framing::Head);
        }
        let first = std::mem::replace(&mut self.first, false);
        if first && bytes.len() < PREFACE.len() && PREFACE.starts_with(bytes) {
            self.first = true;
            return Head::Unfinished;
        }
        if first && bytes.starts_with(PREFACE) && self.h2c {
            return Head::Passes(bytes.len(), Framing::Opaque);
        }
        if first && bytes.starts_with(PREFACE) {
            return Head::Refused(Refusal::BadRequest);
        }
        match read_head(bytes, self.rules) {
            // hyper refuses a head past its limit (431), whole or not.
            Read::Unfinished if bytes.len() > self.rules.max_head => {
                Head::Passes(bytes.len(), Framing::Opaque)
            }
            Read::Unfinished => {
                self.first = first;
                Head::Unfinished
            }
            Read::Refused(refusal) => Head::Refused(refusal),
            Read::Whole(length, framing) => {
                self.heads += 1;
                Head::Passes(length, framing)
            }
            // Malformed: hyper refuses it.
            Read::Malformed => Head::Passes(bytes.len(), Framing::Opaque),
        }
    }
}

/// What the head at the start of some bytes is.
enum Head {
    Unfinished,
    Refused(Refusal),
    /// It passes; its length, and what follows it.
    Passes(usize, Framing),
}

/// What reading a head gave.
enum Read {
    /// Not whole yet.
    Unfinished,
    Refused(Refusal),
    /// Whole: its length, and what follows it.
    Whole(usize, Framing),
    /// Malformed, or past the size limit: hyper's to refuse.
    Malformed,
}

/// The framing headers of a head.
#[derive(Default)]
struct Framers {
    lengths: usize,
    length: Option<u64>,
    codings: usize,
    chunked: bool,
    upgrade: bool,
}

/// Reads the head at the start of `head`: its request line and each header line, up to its
/// empty line. A head with obs-fold is read again once unfolded into spaces (in place, RFC
/// 9112 5.2, as Envoy unfolds it). Only a whole head is changed, so what passes does not
/// hang on how the client's bytes were split.
fn read_head(head: &mut [u8], rules: Rules) -> Read {
    let length = match scan_head(head, rules) {
        Ok(read) => return read,
        Err(length) => length,
    };
    let head = &mut head[..length];
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'\n', &head[from..]) {
        let end = from + found;
        if matches!(head.get(end + 1), Some(b' ' | b'\t')) {
            head[end] = b' ';
            if head[end - 1] == b'\r' {
                head[end - 1] = b' ';
            }
        }
        from = end + 1;
    }
    scan_head(head, rules).unwrap_or(Read::Malformed)
}

/// One pass over a head, with `memchr` for line ends; `Err(length)` for a whole head with
/// obs-fold, to be unfolded and read again. Past `max_head` bytes nothing is refused: the
/// head is hyper's to refuse (431), as it is when it arrives in pieces.
fn scan_head(head: &[u8], rules: Rules) -> Result<Read, usize> {
    let max_head = rules.max_head;
    let Some(line_end) = memchr::memchr(b'\n', head) else {
        return Ok(Read::Unfinished);
    };
    let Some((method, version)) = request_line_parts(trim_cr(&head[..line_end])) else {
        return Ok(Read::Malformed);
    };
    // Envoy takes HTTP/1.1 only unless told otherwise (its `accept_http_10`).
    let taken = version == (1, 1) || version == (1, 0) && rules.http10;
    if !taken && line_end < max_head {
        return Ok(Read::Refused(Refusal::UpgradeRequired));
    }
    if !taken {
        return Ok(Read::Malformed);
    }
    let connect = method == b"CONNECT";
    let mut framers = Framers::default();
    let mut at = line_end + 1;
    // A fold right after the request line has no field to continue.
    if matches!(head.get(at), Some(b' ' | b'\t')) {
        return Ok(Read::Malformed);
    }
    let mut folded = false;
    loop {
        let Some(found) = memchr::memchr(b'\n', &head[at..]) else {
            return Ok(Read::Unfinished);
        };
        let end = at + found;
        if trim_cr(&head[at..end]).is_empty() {
            if end >= max_head {
                return Ok(Read::Malformed);
            }
            if folded {
                return Err(end + 1);
            }
            return Ok(match framing(&framers, connect) {
                Ok(framing) => Read::Whole(end + 1, framing),
                Err(Some(refusal)) => Read::Refused(refusal),
                Err(None) => Read::Malformed,
            });
        }
        match head.get(end + 1) {
            None => return Ok(Read::Unfinished),
            Some(b' ' | b'\t') => folded = true,
            Some(_) => {}
        }
        // A folded head is read again once unfolded.
        if !folded && note_framer(&mut framers, trim_cr(&head[at..end])).is_err() {
            return Ok(Read::Malformed);
        }
        at = end + 1;
    }
}

/// Notes a header line that frames the body (`Content-Length`, `Transfer-Encoding`) or
/// asks for an upgrade; `Err` for a length that is no number.
fn note_framer(framers: &mut Framers, line: &[u8]) -> Result<(), ()> {
    // Most lines name none of them: their first letter tells.
    if !matches!(
        line.first().map(u8::to_ascii_lowercase),
        Some(b'c' | b't' | b'u')
    ) {
        return Ok(());
    }
    let Some(colon) = memchr::memchr(b':', line) else {
        return Ok(());
    };
    let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
    if name.eq_ignore_ascii_case(b"content-length") {
        framers.lengths += 1;
        framers.length = Some(content_length(value).ok_or(())?);
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        framers.codings += 1;
        framers.chunked = value.eq_ignore_ascii_case(b"chunked");
    } else if name.eq_ignore_ascii_case(b"upgrade") {
        framers.upgrade = true;
    }
    Ok(())
}

/// What follows a head with these framing headers, or Envoy's refusal (`Err(None)`: hyper's
/// to refuse).
fn framing(framers: &Framers, connect: bool) -> Result<Framing, Option<Refusal>> {
    if framers.codings > 0 && framers.lengths > 0 || framers.lengths > 1 {
        return Err(Some(Refusal::BadRequest));
    }
    // Two lines of `chunked` are `chunked, chunked`: not `chunked` alone.
    if framers.codings > 1 || framers.codings == 1 && !framers.chunked {
        return Err(Some(Refusal::NotImplemented));
    }
    Ok(if connect || framers.upgrade {
        // The tunnel after the head is not HTTP.
        Framing::Opaque
    } else if framers.codings == 1 {
        Framing::Chunked(Chunk::Size {
            size: 0,
            extension: false,
        })
    } else {
        match framers.length {
            Some(0) | None => Framing::Head,
            Some(length) => Framing::Fixed(length),
        }
    })
}

/// The method and the version (major, minor) of a request line; `None` when it is not
/// `METHOD SP TARGET SP HTTP/d.d` (hyper refuses it).
fn request_line_parts(line: &[u8]) -> Option<(&[u8], (u8, u8))> {
    let mut words = line.split(|&b| b == b' ');
    let (method, _target, version) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() {
        return None;
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Some((method, (major - b'0', minor - b'0')))
        }
        _ => None,
    }
}

/// A `Content-Length` value: digits, or a list of equal ones (RFC 9110 8.6, as hyper
/// takes it).
fn content_length(value: &[u8]) -> Option<u64> {
    let mut length = None;
    for part in value.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let parsed: u64 = std::str::from_utf8(part).ok()?.parse().ok()?;
        if length.is_some_and(|l| l != parsed) {
            return None;
        }
        length = Some(parsed);
    }
    length
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(max_head: usize) -> Rules {
        Rules {
            max_head,
            http10: false,
        }
    }

    fn scan(bytes: &str) -> (Scanned, String, Framing) {
        let mut scanner = Scanner::new(rules(1024), true);
        let mut bytes = bytes.as_bytes().to_vec();
        let scanned = scanner.scan(&mut bytes);
        (
            scanned,
            String::from_utf8_lossy(&bytes).into_owned(),
            scanner.framing,
        )
    }

    #[test]
    fn a_simple_request_passes_and_the_next_head_is_awaited() {
        let (scanned, _, framing) = scan("GET / HTTP/1.1\r\nhost: a\r\n\r\n");
        assert_eq!((scanned, framing), (Scanned::All, Framing::Head));
    }

    #[test]
    fn pipelined_requests_with_bodies_are_followed_to_the_refused_one() {
        let one = "POST /a HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello";
        let two = "POST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nt: v\r\n\r\n";
        let three = "POST /c HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx";
        let (scanned, ..) = scan(&format!("{one}{two}{three}"));
        assert_eq!(
            scanned,
            Scanned::Refused(one.len() + two.len(), Refusal::BadRequest)
        );
    }

    #[test]
    fn envoys_refusals() {
        for (head, refusal) in [
            (
                "POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n",
                Refusal::BadRequest,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Refusal::BadRequest,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Refusal::NotImplemented,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Refusal::NotImplemented,
            ),
            ("GET / HTTP/9.9\r\n\r\n", Refusal::UpgradeRequired),
            ("GET / HTTP/1.0\r\n\r\n", Refusal::UpgradeRequired),
        ] {
            assert_eq!(scan(head).0, Scanned::Refused(0, refusal), "{head}");
        }
    }

    #[test]
    fn http_1_0_is_served_when_the_edge_accepts_it() {
        let rules = Rules {
            max_head: 1024,
            http10: true,
        };
        let mut head = b"GET / HTTP/1.0\r\n\r\n".to_vec();
        assert_eq!(Scanner::new(rules, true).scan(&mut head), Scanned::All);
        let mut head = b"GET / HTTP/1.2\r\n\r\n".to_vec();
        let refused = Scanned::Refused(0, Refusal::UpgradeRequired);
        assert_eq!(Scanner::new(rules, true).scan(&mut head), refused);
    }

    #[test]
    fn obs_fold_is_unfolded_in_place() {
        let (scanned, bytes, _) = scan("GET / HTTP/1.1\r\nx-a: a\r\n b\r\n\r\n");
        assert_eq!(scanned, Scanned::All);
        assert_eq!(bytes, "GET / HTTP/1.1\r\nx-a: a   b\r\n\r\n");
    }

    #[test]
    fn a_head_split_anywhere_waits_for_the_rest() {
        let whole = "GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        for cut in 1..whole.len() {
            let mut scanner = Scanner::new(rules(1024), true);
            let mut part = whole.as_bytes()[..cut].to_vec();
            assert_eq!(scanner.scan(&mut part), Scanned::Unfinished(0), "{cut}");
        }
    }

    #[test]
    fn a_chunked_body_split_anywhere_is_followed_to_its_end() {
        let body = "4\r\nwiki\r\n0\r\n\r\n";
        for cut in 0..=body.len() {
            let mut scanner = Scanner::new(rules(1024), true);
            let mut head = b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            assert_eq!(scanner.scan(&mut head), Scanned::All);
            let (first, second) = body.as_bytes().split_at(cut);
            assert_eq!(scanner.scan(&mut first.to_vec()), Scanned::All);
            assert_eq!(scanner.scan(&mut second.to_vec()), Scanned::All);
            assert_eq!(scanner.framing, Framing::Head, "{cut}");
        }
    }

    #[test]
    fn what_hyper_decides_turns_the_connection_opaque() {
        for head in [
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "POST / HTTP/1.1\r\ncontent-length: 5, 6\r\n\r\n",
            "GET / HTTP/1.1\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let (scanned, _, framing) = scan(head);
            assert_eq!(
                (scanned, framing),
                (Scanned::All, Framing::Opaque),
                "{head}"
            );
        }
        let (_, _, framing) = scan(&format!("GET /{} HTTP/1.1\r\n", "a".repeat(2000)));
        assert_eq!(framing, Framing::Opaque, "a head past the limit");
    }

    #[test]
    fn past_the_head_limit_nothing_is_refused_or_unfolded() {
        // Found by the fuzz target: refused or unfolded whole, passed as it was in pieces.
        let filler = "a".repeat(1100);
        let head = format!(
            "POST / HTTP/1.1\r\nx-f: {filler}\r\n b\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        let (scanned, bytes, framing) = scan(&head);
        assert_eq!((scanned, framing), (Scanned::All, Framing::Opaque));
        assert_eq!(bytes, head, "unchanged");
        let (scanned, ..) = scan(&format!("GET /{filler} HTTP/1.0\r\n\r\n"));
        assert_eq!(scanned, Scanned::All);
    }

    #[test]
    fn the_http2_preface_is_refused_where_only_http1_is_spoken() {
        let mut scanner = Scanner::new(rules(1024), false);
        let mut preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let refused = Scanned::Refused(0, Refusal::BadRequest);
        assert_eq!(scanner.scan(&mut preface), refused);
    }

    #[test]
    fn a_content_length_list_of_equal_values_is_one_length() {
        let (scanned, _, framing) = scan("POST / HTTP/1.1\r\ncontent-length: 5, 5\r\n\r\nhel");
        assert_eq!((scanned, framing), (Scanned::All, Framing::Fixed(2)));
    }
}
