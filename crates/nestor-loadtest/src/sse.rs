//! A lean SSE subscriber for the fan-out benchmark.
//!
//! The load tool shares the machine's two cores with the server it measures, so every
//! microsecond it spends per delivery is taken from the server. A subscriber here is one task
//! on a plain `TcpStream`: it writes a `GET`, checks the response head, then reads whatever has
//! arrived into a per-thread buffer (no buffer per connection), undoes chunked transfer coding
//! when the server uses it (nchan and Nestor do; a close-delimited body is read as it is), and finds the
//! `@@T<micros>@@` send stamps in the bytes. No SSE parsing, no HTTP client stack: one wake-up
//! and one `read` per batch of frames.

use std::{cell::RefCell, net::SocketAddr};

use anyhow::{Context, bail};
use tokio::{io::AsyncWriteExt, net::TcpStream};

/// Bytes read per `read` call; one buffer per runtime thread.
const READ_BUF: usize = 256 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        read: vec![0; READ_BUF],
        stamps: Vec::new(),
    });
}

struct Scratch {
    read: Vec<u8>,
    stamps: Vec<u64>,
}

/// Finds every `@@T<digits>@@` in `buf`, pushing the numbers to `out`; returns how many bytes
/// are done with (everything up to the last complete marker, keeping a possibly incomplete one
/// at the end).
pub fn scan(buf: &[u8], out: &mut Vec<u64>) -> usize {
    let finder = memchr::memmem::Finder::new(b"@@T");
    let mut i = 0;
    while let Some(pos) = finder.find(&buf[i..]) {
        let marker = i + pos;
        let start = marker + 3;
        let digits = buf[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if start + digits + 2 > buf.len() {
            return marker;
        }
        if &buf[start + digits..start + digits + 2] == b"@@" {
            if let Some(t) = std::str::from_utf8(&buf[start..start + digits])
                .ok()
                .and_then(|d| d.parse().ok())
            {
                out.push(t);
            }
            i = start + digits + 2;
        } else {
            i = start + digits;
        }
    }
    // The last two bytes may begin a marker.
    i.max(buf.len().saturating_sub(2))
}

/// [`scan`] over a body that arrives in pieces: a marker split between pieces is completed
/// from the next one, without copying more than its bytes.
#[derive(Default)]
pub struct Scanner {
    carry: Vec<u8>,
}

impl Scanner {
    /// The longest a marker is (`@@T`, 20 digits, `@@`), rounded up.
    const MARKER_MAX: usize = 32;

    /// Scans the next piece of the body.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<u64>) {
        if !self.carry.is_empty() {
            let old = self.carry.len();
            let take = data.len().min(Self::MARKER_MAX);
            self.carry.extend_from_slice(&data[..take]);
            let done = scan(&self.carry, out);
            if done >= old {
                data = &data[done - old..];
            } else if take == data.len() {
                // Still incomplete: keep waiting for more.
                self.carry.drain(..done);
                return;
            } else {
                // Not a marker after all (no end within its longest length).
                data = &data[take..];
            }
            self.carry.clear();
        }
        let done = scan(data, out);
        self.carry.extend_from_slice(&data[done..]);
    }
}

/// Incremental decoder of HTTP/1.1 chunked transfer coding.
#[derive(Default)]
pub struct Dechunker {
    phase: Phase,
    /// The size line read so far.
    line: Vec<u8>,
}

#[derive(Default)]
enum Phase {
    #[default]
    Size,
    Data(usize),
    /// The CRLF after a chunk's data: bytes still to skip.
    Crlf(u8),
    Done,
}

impl Dechunker {
    /// Passes each piece of data carried by `input` to `out` (no copy). Returns whether the
    /// last chunk was seen.
    pub fn feed(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8])) -> anyhow::Result<bool> {
        while !input.is_empty() {
            match self.phase {
                Phase::Size => {
                    let Some(end) = memchr::memchr(b'\n', input) else {
                        self.line.extend_from_slice(input);
                        if self.line.len() > 1024 {
                            bail!("chunk size line over 1 KiB");
                        }
                        return Ok(false);
                    };
                    self.line.extend_from_slice(&input[..end]);
                    input = &input[end + 1..];
                    let hex: Vec<u8> = self
                        .line
                        .iter()
                        .copied()
                        .take_while(|b| b.is_ascii_hexdigit())
                        .collect();
                    let size =
                        usize::from_str_radix(std::str::from_utf8(&hex).context("chunk size")?, 16)
                            .with_context(|| {
                                format!(
                                    "bad chunk size line {:?}",
                                    String::from_utf8_lossy(&self.line)
                                )
                            })?;
                    self.line.clear();
                    if size == 0 {
                        self.phase = Phase::Done;
                        return Ok(true);
                    }
                    self.phase = Phase::Data(size);
                }
                Phase::Data(left) => {
                    let take = left.min(input.len());
                    out(&input[..take]);
                    input = &input[take..];
                    self.phase = if take == left {
                        Phase::Crlf(2)
                    } else {
                        Phase::Data(left - take)
                    };
                }
                Phase::Crlf(left) => {
                    let take = usize::from(left).min(input.len());
                    input = &input[take..];
                    self.phase = if take == usize::from(left) {
                        Phase::Size
                    } else {
                        Phase::Crlf(left - take as u8)
                    };
                }
                Phase::Done => return Ok(true),
            }
        }
        Ok(matches!(self.phase, Phase::Done))
    }
}

/// An open event stream: the response head has been read and was a 200.
pub struct Subscription {
    stream: TcpStream,
    chunked: Option<Dechunker>,
    scanner: Scanner,
}

/// Opens `path` on `addr` as an event stream.
pub async fn subscribe(addr: SocketAddr, path: &str) -> anyhow::Result<Subscription> {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let (status, chunked, body_start) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("the server closed the connection before answering");
        }
        head.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&head).context("response head")? {
            httparse::Status::Complete(len) => {
                let chunked = res.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        && h.value.eq_ignore_ascii_case(b"chunked")
                });
                break (res.code.unwrap_or(0), chunked, len);
            }
            httparse::Status::Partial if head.len() > 16 * 1024 => bail!("response head too long"),
            httparse::Status::Partial => {}
        }
    };
    if status != 200 {
        bail!("HTTP {status}");
    }
    let mut sub = Subscription {
        stream,
        chunked: chunked.then(Dechunker::default),
        scanner: Scanner::default(),
    };
    // Stamps in the first bytes of the body are not counted: they arrived with the head,
    // before the benchmark measures anything.
    let mut ignored = Vec::new();
    sub.process(&head[body_start..], &mut ignored)?;
    Ok(sub)
}

impl Subscription {
    /// Decodes and scans bytes of the body; returns whether the body ended.
    fn process(&mut self, input: &[u8], stamps: &mut Vec<u64>) -> anyhow::Result<bool> {
        let scanner = &mut self.scanner;
        match &mut self.chunked {
            Some(d) => d.feed(input, |piece| scanner.feed(piece, stamps)),
            None => {
                scanner.feed(input, stamps);
                Ok(false)
            }
        }
    }

    /// Reads until the stream ends, calling `on_stamps` with the send stamps found in each
    /// read (the caller takes the time of arrival).
    pub async fn run(mut self, mut on_stamps: impl FnMut(&[u64])) -> anyhow::Result<()> {
        use tokio::io::{AsyncRead, ReadBuf};
        loop {
            // `poll_read` rather than `try_read`: a short read clears the socket's readiness,
            // so a drained socket costs no extra `read` that would only say "would block".
            let ended = std::future::poll_fn(|cx| {
                SCRATCH.with(|s| {
                    let s = &mut *s.borrow_mut();
                    let mut buf = ReadBuf::new(&mut s.read);
                    match std::pin::Pin::new(&mut self.stream).poll_read(cx, &mut buf) {
                        std::task::Poll::Pending => std::task::Poll::Pending,
                        std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e.into())),
                        std::task::Poll::Ready(Ok(())) => {
                            let n = buf.filled().len();
                            std::task::Poll::Ready(if n == 0 {
                                Ok(true)
                            } else {
                                s.stamps.clear();
                                let ended = self.process(&s.read[..n], &mut s.stamps);
                                if !s.stamps.is_empty() {
                                    on_stamps(&s.stamps);
                                }
                                ended
                            })
                        }
                    }
                })
            })
            .await?;
            if ended {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_markers_and_keeps_a_split_one() {
        let mut out = Vec::new();
        let buf = b"data: {\"d\":\"@@T123@@ x\"}\n\ndata: @@T456@@\n\ndata: @@T78";
        let done = scan(buf, &mut out);
        assert_eq!(out, [123, 456]);
        assert_eq!(&buf[done..], b"@@T78");
        // Nothing already counted is scanned again.
        let mut rest = buf[done..].to_vec();
        rest.extend_from_slice(b"9@@ tail @@");
        out.clear();
        let done = scan(&rest, &mut out);
        assert_eq!(out, [789]);
        assert_eq!(&rest[done..], b"@@");
    }

    #[test]
    fn chunked_bodies_decode_across_any_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let mut d = Dechunker::default();
            let mut out = Vec::new();
            let first = d
                .feed(&body[..split], |p| out.extend_from_slice(p))
                .unwrap();
            let done = d
                .feed(&body[split..], |p| out.extend_from_slice(p))
                .unwrap();
            assert!(!first || split >= body.len() - 5, "ended early at {split}");
            assert!(done, "split {split}");
            assert_eq!(out, b"hello, world", "split {split}");
        }
        let mut d = Dechunker::default();
        assert!(d.feed(b"zz\r\n", |_| {}).is_err());
    }

    #[test]
    fn markers_split_across_pieces_are_found_once() {
        let body = b"x @@T123@@ y @@T4567@@ @@Tnot@@ z @@T89@@";
        for split in 0..body.len() {
            for split2 in split..body.len() {
                let mut s = Scanner::default();
                let mut out = Vec::new();
                s.feed(&body[..split], &mut out);
                s.feed(&body[split..split2], &mut out);
                s.feed(&body[split2..], &mut out);
                assert_eq!(out, [123, 4567, 89], "splits {split} {split2}");
            }
        }
    }

    #[tokio::test]
    async fn a_subscription_reads_stamps_from_a_chunked_stream() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let n = s.read(&mut req).await.unwrap();
            assert!(req[..n].starts_with(b"GET /sub HTTP/1.1\r\n"));
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            for chunk in ["data: @@T1", "1@@\n\n", "data: @@T22@@\n\n"] {
                s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
                    .await
                    .unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            s.write_all(b"0\r\n\r\n").await.unwrap();
        });
        let sub = subscribe(addr, "/sub").await.unwrap();
        let mut got = Vec::new();
        sub.run(|stamps| got.extend_from_slice(stamps))
            .await
            .unwrap();
        assert_eq!(got, [11, 22]);
        server.await.unwrap();
    }
}
