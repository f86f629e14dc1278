//! An in-memory "socket": reads hand out at most 64 KiB of a pre-encoded
//! stream per call (blocking `Read` and tokio `AsyncRead`, never pending).
//! Writes are counted (default: a counting writer, so the encode figures are
//! the implementations' own work, not the sink's copy) or, with `--sink copy`,
//! copied into a `Vec` cleared whenever it holds 64 KiB or more, as into a
//! socket buffer.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether sinks copy what is written (`--sink copy`: into a `Vec` cleared
/// every 64 KiB, as into a socket buffer) or only count it (the default).
pub static COPY_WRITES: AtomicBool = AtomicBool::new(false);

/// Largest read handed out, and the sink's clearing threshold.
pub const PIECE: usize = 64 * 1024;

/// What a sink reports when it is dropped (some peers do not give their
/// stream back, so the report is the uniform way out).
#[derive(Default, Debug)]
pub struct SinkReport {
    pub written: u64,
    /// Everything written, when the sink was made with `capture`.
    pub captured: Vec<u8>,
}

pub struct MemStream {
    input: Bytes,
    pos: usize,
    out: Vec<u8>,
    clear_at: usize,
    written: u64,
    report: Option<Arc<Mutex<SinkReport>>>,
}

impl MemStream {
    /// A stream that yields `input` in pieces of at most 64 KiB, then EOF.
    /// Writes are discarded (nothing in the decode workloads writes).
    pub fn reader(input: Bytes) -> Self {
        MemStream {
            input,
            pos: 0,
            out: Vec::new(),
            clear_at: PIECE,
            written: 0,
            report: None,
        }
    }

    /// A sink cleared every 64 KiB; reports the bytes written when dropped.
    pub fn sink(report: Arc<Mutex<SinkReport>>) -> Self {
        MemStream {
            input: Bytes::new(),
            pos: 0,
            out: if COPY_WRITES.load(Relaxed) {
                Vec::with_capacity(4 * PIECE)
            } else {
                Vec::new()
            },
            clear_at: PIECE,
            written: 0,
            report: Some(report),
        }
    }

    /// A sink that keeps everything (for checking what an encoder wrote).
    pub fn capture(report: Arc<Mutex<SinkReport>>) -> Self {
        let mut s = MemStream::sink(report);
        s.clear_at = usize::MAX;
        s
    }

    #[inline]
    fn put(&mut self, data: &[u8]) {
        self.written += data.len() as u64;
        if self.clear_at != usize::MAX && !COPY_WRITES.load(Relaxed) {
            // Count only; the optimiser must still assume the bytes are read.
            std::hint::black_box(data);
            return;
        }
        if self.out.len() >= self.clear_at {
            self.out.clear();
        }
        self.out.extend_from_slice(data);
    }

    /// Reads at most `max` bytes (and at most 64 KiB) onto the end of `buf`,
    /// as a socket read into a `BytesMut`'s spare capacity does (tokio's
    /// `read_buf`): no zeroing, no intermediate buffer. Returns the count.
    #[inline]
    pub fn read_into(&mut self, buf: &mut bytes::BytesMut, max: usize) -> usize {
        let piece = self.take_piece(max);
        buf.extend_from_slice(piece);
        piece.len()
    }

    #[inline]
    fn take_piece(&mut self, max: usize) -> &[u8] {
        let start = self.pos;
        let n = (self.input.len() - start).min(PIECE).min(max);
        self.pos += n;
        &self.input[start..start + n]
    }
}

impl Drop for MemStream {
    fn drop(&mut self) {
        if let Some(report) = self.report.take() {
            let mut r = report.lock().unwrap();
            r.written = self.written;
            if self.clear_at == usize::MAX {
                r.captured = std::mem::take(&mut self.out);
            }
        }
    }
}

impl io::Read for MemStream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let piece = self.take_piece(buf.len());
        let n = piece.len();
        buf[..n].copy_from_slice(piece);
        Ok(n)
    }
}

impl io::Write for MemStream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.put(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.put(b);
            n += b.len();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for MemStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let piece = this.take_piece(buf.remaining());
        buf.put_slice(piece);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for MemStream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().put(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut n = 0;
        for b in bufs {
            this.put(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
