//! The HTTP/1.1 upgrade handshake (RFC 6455 §4), both roles, sans-IO.
//!
//! Bytes, `now` and the client's nonce are arguments; the handshake writes
//! and reads HTTP heads and knows nothing of frames. When it completes, any
//! bytes after the peer's head are left in the caller's read buffer: they are
//! the first frames, for the connection.
//!
//! - Server: [`ServerHandshake::handle_read`] yields a validated [`Request`];
//!   the application checks it (path, [`OriginPolicy`], subprotocols, cookies)
//!   and writes [`ServerHandshake::accept`] or [`ServerHandshake::reject`]. On
//!   an error, write [`HandshakeError::response`] and close.
//! - Client: build a [`ClientRequest`], write
//!   [`ClientHandshake::request_bytes`], and read until
//!   [`ClientHandshake::handle_read`] yields the validated [`Response`].
//!
//! Both roles enforce [`HandshakeConfig`] limits while the head is still
//! partial, fail at once on a start line that cannot begin an HTTP/1.1 head
//! (whatever the read boundaries, with the error the whole head would give),
//! and expose their deadline as [`poll_timeout`](ServerHandshake::poll_timeout) /
//! [`handle_timeout`](ServerHandshake::handle_timeout).
//!
//! ```
//! use bytes::BytesMut;
//! use wsmachine::Instant;
//! use wsmachine::handshake::{
//!     Accept, ClientHandshake, ClientRequest, HandshakeConfig, OriginPolicy, ServerHandshake,
//! };
//!
//! # fn main() -> Result<(), wsmachine::handshake::HandshakeError> {
//! let now = Instant::ZERO;
//! let nonce = [7; 16]; // from the caller's RNG: fresh for every connection
//!
//! // Client: build the request.
//! let request = ClientRequest::from_url("ws://example.com:8080/chat")?
//!     .origin("https://example.com")?
//!     .protocol("chat.v2")?
//!     .protocol("chat.v1")?;
//! let mut client = ClientHandshake::new(HandshakeConfig::default(), now, &request, nonce);
//!
//! // Server: read it (here in one piece; any split works), check, accept.
//! let mut server = ServerHandshake::new(HandshakeConfig::default(), now);
//! let mut server_buf = BytesMut::from(client.request_bytes());
//! let offer = server.handle_read(now, &mut server_buf)?.expect("complete head");
//! assert_eq!((offer.path(), offer.host()), ("/chat", "example.com:8080"));
//! OriginPolicy::allow_list(["https://example.com"]).check(&offer)?;
//! let response = server.accept(&offer, &Accept::new().protocol("chat.v1"))?;
//!
//! // Client: the response arrives with the server's first frame behind it.
//! let mut client_buf = BytesMut::from(&response[..]);
//! client_buf.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
//! let accepted = client.handle_read(now, &mut client_buf)?.expect("complete head");
//! assert_eq!(accepted.protocol(), Some("chat.v1"));
//! assert_eq!(&client_buf[..], &[0x81, 0x02, b'h', b'i']); // left for the connection
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod head;
mod key;
mod origin;
mod request;
mod server;
mod target;
mod write;

pub use client::{ClientHandshake, ClientRequest, Response};
pub use config::HandshakeConfig;
pub use error::HandshakeError;
pub use key::{accept_key, client_key};
pub use origin::OriginPolicy;
pub use request::Request;
pub use server::{Accept, ServerHandshake};
