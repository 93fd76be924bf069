//! A client stream whose HTTP/1.1 request heads are checked as Envoy checks them before
//! hyper reads them ([`framing`](super::framing)).
//!
//! Bytes go to hyper as they come (read straight into hyper's buffer, scanned there) except
//! a head not yet whole, which waits in the stream until it is. A refused head never reaches
//! hyper: it gets a stand-in request instead, and the connection's [`Refusals`] tell the
//! service to answer it with Envoy's status and close; nothing after it is read.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::framing::{Framing, Refusal, Rules, Scanned, Scanner, PREFACE};

/// What hyper reads in place of a refused head.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// How much more a head not yet whole reads at a time.
const HEAD_READ: usize = 4096;

/// The refused request of a connection, if any: which one (counted from zero) and why.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// The refused request's index plus one; zero: none.
    request: AtomicU64,
    why: AtomicU8,
}

impl Refusals {
    fn note(&self, request: u64, refusal: Refusal) {
        self.why.store(refusal as u8, Ordering::Relaxed);
        self.request.store(request + 1, Ordering::Release);
    }

    /// Why request `index` of the connection is refused, if it is.
    pub(crate) fn of(&self, index: u64) -> Option<Refusal> {
        self.refused()
            .and_then(|(refused, why)| (refused == index).then_some(why))
    }

    /// The refused request, if any: its index and why.
    fn refused(&self) -> Option<(u64, Refusal)> {
        let request = self.request.load(Ordering::Acquire).checked_sub(1)?;
        let why = match self.why.load(Ordering::Relaxed) {
            x if x == Refusal::NotImplemented as u8 => Refusal::NotImplemented,
            x if x == Refusal::UpgradeRequired as u8 => Refusal::UpgradeRequired,
            _ => Refusal::BadRequest,
        };
        Some((request, why))
    }
}

/// A client stream read through the scanner.
pub(crate) struct Checked<S> {
    inner: S,
    scanner: Scanner,
    /// Bytes read that hyper has not had: the first `passing` of them pass as they are; the
    /// rest begin a head not yet whole.
    pending: Vec<u8>,
    passing: usize,
    /// A head was refused: once its stand-in is out, nothing more is read.
    stopped: bool,
    /// The waiting bytes were read ahead to tell HTTP/2 from HTTP/1.1, not scanned yet.
    unscanned: bool,
    refusals: Arc<Refusals>,
}

impl<S> Checked<S> {
    pub(crate) fn new(inner: S, scanner: Scanner, refusals: Arc<Refusals>) -> Checked<S> {
        Checked {
            inner,
            scanner,
            pending: Vec::new(),
            passing: 0,
            stopped: false,
            unscanned: false,
            refusals,
        }
    }

    /// Refuses the head the scanner stopped at: hyper gets its stand-in after what passes.
    fn refuse(&mut self, refusal: Refusal) {
        self.refusals.note(self.scanner.heads(), refusal);
        self.pending.extend_from_slice(STAND_IN);
        self.passing = self.pending.len();
        self.stopped = true;
    }

    /// Scans what waits (a head not yet whole, and what came after it).
    fn scan_pending(&mut self) {
        match self.scanner.scan(&mut self.pending) {
            Scanned::All => self.passing = self.pending.len(),
            Scanned::Unfinished(at) => self.passing = at,
            Scanned::Refused(at, refusal) => {
                self.pending.truncate(at);
                self.refuse(refusal);
            }
        }
    }

    /// Hands hyper what passes of the waiting bytes.
    fn hand_over(&mut self, out: &mut ReadBuf<'_>) {
        let n = self.passing.min(out.remaining());
        out.put_slice(&self.pending[..n]);
        self.pending.drain(..n);
        self.passing -= n;
    }
}

impl<S: AsyncRead + Unpin> Checked<S> {
    /// Reads the client's first bytes until they tell whether it speaks HTTP/2 with prior
    /// knowledge (its preface) or HTTP/1.1. hyper gets them as they are after it. (hyper's
    /// own guess would wait for bytes this stream holds back until a head is whole, and
    /// under no time limit.)
    pub(crate) async fn speaks_h2c(&mut self) -> io::Result<bool> {
        loop {
            let preface = self.pending.len().min(PREFACE.len());
            if self.pending[..preface] != PREFACE[..preface] {
                break;
            }
            if preface == PREFACE.len() {
                self.unscanned = true;
                return Ok(true);
            }
            if std::future::poll_fn(|cx| self.poll_fill(cx)).await? == 0 {
                break;
            }
        }
        self.unscanned = !self.pending.is_empty();
        Ok(false)
    }

    /// Reads what the client sent next onto the waiting bytes; how many (zero: its end).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut more = [0u8; HEAD_READ];
        let mut buf = ReadBuf::new(&mut more);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut buf))?;
        self.pending.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    }

    /// Reads more of a head not yet whole into the waiting bytes; at the client's end, the
    /// unfinished head goes to hyper as it is (hyper sees the end after it).
    fn poll_more_head(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if ready!(self.poll_fill(cx))? == 0 {
            self.scanner.give_up();
            self.passing = self.pending.len();
        } else {
            self.scan_pending();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Checked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            if me.passing > 0 {
                me.hand_over(out);
                return Poll::Ready(Ok(()));
            }
            if me.stopped {
                // The refusal's answer closes the connection; hyper needs nothing more.
                return Poll::Pending;
            }
            if std::mem::take(&mut me.unscanned) {
                me.scan_pending();
                continue;
            }
            if !me.pending.is_empty() {
                ready!(me.poll_more_head(cx))?;
                continue;
            }
            if me.scanner.framing() == Framing::Opaque {
                return Pin::new(&mut me.inner).poll_read(cx, out);
            }
            let before = out.filled().len();
            ready!(Pin::new(&mut me.inner).poll_read(cx, out))?;
            let read = &mut out.filled_mut()[before..];
            if read.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let passes = match me.scanner.scan(read) {
                Scanned::All => return Poll::Ready(Ok(())),
                Scanned::Unfinished(at) => {
                    me.pending.extend_from_slice(&read[at..]);
                    at
                }
                Scanned::Refused(at, refusal) => {
                    me.refuse(refusal);
                    at
                }
            };
            out.set_filled(before + passes);
            if passes > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Checked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What hyper reads through a [`Checked`] stream (heads up to `max_head` bytes) from a
/// client that sends `parts` one read at a time, seven bytes at a time, and the refused
/// request (its index and status), if any. For tests and the fuzz target.
pub fn read_through(parts: &[&[u8]], max_head: usize) -> (Vec<u8>, Option<(u64, u16)>) {
    // An empty read is the client's end: an empty part is no read.
    let sent = parts.iter().filter(|p| !p.is_empty());
    let client = Parts(sent.map(|p| p.to_vec()).collect());
    let refusals = Arc::new(Refusals::default());
    let rules = Rules {
        max_head,
        http10: false,
    };
    let scanner = Scanner::new(rules, true);
    let mut checked = Checked::new(client, scanner, refusals.clone());
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut seen = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut checked).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                seen.extend_from_slice(read.filled());
            }
            // The client's end, or a stopped stream (the client's reads never wait).
            _ => break,
        }
    }
    let refused = refusals.refused();
    (
        seen,
        refused.map(|(index, why)| (index, why.status().as_u16())),
    )
}

/// A client that sends its parts one read at a time, then ends.
struct Parts(std::collections::VecDeque<Vec<u8>>);

impl AsyncRead for Parts {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut part) = self.0.pop_front() {
            let n = part.len().min(buf.remaining());
            buf.put_slice(&part[..n]);
            if n < part.len() {
                self.0.push_front(part.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn read_through(parts: &[&[u8]]) -> (Vec<u8>, Option<(u64, u16)>) {
        super::read_through(parts, 8192)
    }

    #[test]
    fn heads_split_across_reads_reach_hyper_whole_and_unchanged() {
        let one = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n";
        let two = b"POST /b HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc";
        let all = [one.as_slice(), two.as_slice()].concat();
        let (seen, refused) = read_through(&[&all[..5], &all[5..40], &all[40..]]);
        assert_eq!((seen, refused), (all, None));
    }

    #[test]
    fn a_refused_head_becomes_the_stand_in_and_nothing_after_it_is_read() {
        let one = b"GET /a HTTP/1.1\r\n\r\n".as_slice();
        let two = b"POST /b HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\nhello".as_slice();
        let three = b"GET /c HTTP/1.1\r\n\r\n".as_slice();
        let (seen, refused) = read_through(&[one, &two[..10], &two[10..], three]);
        assert_eq!(seen, [one, STAND_IN].concat());
        assert_eq!(refused, Some((1, 501)));
    }

    #[test]
    fn what_hyper_reads_is_the_same_however_the_client_splits_its_bytes() {
        let all = [
            b"GET /a HTTP/1.1\r\nx-fold: a\r\n b\r\n\r\n".as_slice(),
            b"POST /b HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nt: 1\r\n\r\n",
            b"POST /c HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi",
            // Empty lines before a head (found by the fuzz target: they passed or not by
            // where the client's bytes were split).
            b"\r\n\n\r\n",
            b"POST /d HTTP/1.1\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n",
            b"GET /e HTTP/1.1\r\n\r\n",
        ]
        .concat();
        let whole = read_through(&[&all]);
        assert_eq!(whole.1, Some((3, 400)));
        for cut in 1..all.len() {
            let (first, second) = all.split_at(cut);
            assert_eq!(read_through(&[first, second]), whole, "cut at {cut}");
        }
    }

    #[tokio::test]
    async fn the_first_bytes_tell_h2c_from_http1_and_reach_hyper_as_they_were() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice();
        let get = b"GET / HTTP/1.1\r\n\r\n".as_slice();
        for (parts, h2c) in [
            (vec![&preface[..3], &preface[3..]], true),
            (vec![&get[..2], &get[2..]], false),
        ] {
            let client = Parts(parts.iter().map(|p| p.to_vec()).collect());
            let mut checked = Checked::new(
                client,
                Scanner::new(
                    Rules {
                        max_head: 8192,
                        http10: false,
                    },
                    true,
                ),
                Arc::default(),
            );
            assert_eq!(checked.speaks_h2c().await.expect("read"), h2c);
            let mut seen = Vec::new();
            checked.read_to_end(&mut seen).await.expect("read");
            assert_eq!(seen, parts.concat());
        }
    }
}
