//! One port for HTTPS and TURN over TLS: TURN clients behind firewalls that
//! let only HTTPS out reach the relay on port 443 (RFC 7443). After the TLS
//! handshake, the first bytes a client sends tell which it speaks: a STUN
//! message (the first two bits zero, the magic cookie at bytes 4 to 8) is
//! TURN, anything else HTTP. An HTTP request's first byte is a letter, so
//! HTTP is known from one byte and never waits for more.
//!
//! The bytes read to decide are handed on in front of the stream
//! ([`Prefixed`]), so that whoever serves it reads it from its start.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::turn::stun::MAGIC_COOKIE;

/// What a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaks {
    Http,
    Turn,
}

/// Bytes that decide: a STUN header up to its magic cookie.
const DECIDING: usize = 8;

/// What the first bytes of a stream say, or `None` while they do not say
/// yet.
pub(crate) fn speaks(first: &[u8]) -> Option<Speaks> {
    let byte = *first.first()?;
    if byte & 0xC0 != 0 {
        return Some(Speaks::Http);
    }
    let cookie = first.get(4..DECIDING)?;
    Some(if cookie == MAGIC_COOKIE.to_be_bytes() {
        Speaks::Turn
    } else {
        Speaks::Http
    })
}

/// Reads the first bytes of `stream` until they say what it speaks;
/// `None` if it closes, fails, or says nothing within `wait`.
pub(crate) async fn sort<S>(mut stream: S, wait: Duration) -> Option<(Speaks, Prefixed<S>)>
where
    S: AsyncRead + Unpin,
{
    let mut first = [0u8; DECIDING];
    let mut len = 0;
    let read = async {
        loop {
            if let Some(speaks) = speaks(&first[..len]) {
                return Some(speaks);
            }
            match stream.read(&mut first[len..]).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => len += n,
            }
        }
    };
    let speaks = tokio::time::timeout(wait, read).await.ok().flatten()?;
    Some((speaks, Prefixed::new(first[..len].to_vec(), stream)))
}

/// A stream with bytes already read from it put back in front.
pub(crate) struct Prefixed<S> {
    prefix: Vec<u8>,
    inner: S,
}

impl<S> Prefixed<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The start of a STUN Binding request.
    const BINDING: [u8; 8] = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];

    #[test]
    fn first_bytes_decide() {
        assert_eq!(speaks(b""), None);
        assert_eq!(speaks(b"G"), Some(Speaks::Http));
        assert_eq!(speaks(b"POST /api/rooms"), Some(Speaks::Http));
        assert_eq!(speaks(&BINDING[..7]), None);
        assert_eq!(speaks(&BINDING), Some(Speaks::Turn));
        // Two zero bits but no cookie (an RFC 3489 message, or noise): HTTP,
        // which answers 400.
        assert_eq!(speaks(&[0, 1, 0, 0, 1, 2, 3, 4]), Some(Speaks::Http));
        // ChannelData is never a TURN client's first message.
        assert_eq!(speaks(&[0x40, 0, 0, 4]), Some(Speaks::Http));
    }

    #[tokio::test]
    async fn the_bytes_read_to_decide_are_handed_on() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut message = BINDING.to_vec();
        message.extend_from_slice(&[9; 12]);
        // Trickled: three bytes, then the rest.
        client.write_all(&message[..3]).await.unwrap();
        let sorting = tokio::spawn(sort(server, Duration::from_secs(5)));
        client.write_all(&message[3..]).await.unwrap();
        let (speaks, mut stream) = sorting.await.unwrap().expect("sorted");
        assert_eq!(speaks, Speaks::Turn);
        let mut read = [0u8; 20];
        stream.read_exact(&mut read).await.unwrap();
        assert_eq!(read.to_vec(), message);
        // Writes go through.
        stream.write_all(b"ok").await.unwrap();
        let mut answer = [0u8; 2];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"ok");
    }

    #[tokio::test]
    async fn a_silent_or_closed_client_is_not_sorted() {
        let (_client, server) = tokio::io::duplex(64);
        assert!(sort(server, Duration::from_millis(50)).await.is_none());
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        assert!(sort(server, Duration::from_secs(10)).await.is_none());
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (speaks, _) = sort(server, Duration::from_secs(10)).await.unwrap();
        assert_eq!(speaks, Speaks::Http);
    }
}
