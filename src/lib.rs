#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod handshake;
mod time;

pub use time::{Duration, Instant};
mod close;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
mod error;
pub mod frame;
mod message;
pub mod reconnect;
#[cfg(feature = "sim")]
pub mod sim;
mod utf8;

pub use close::{CloseCode, CloseFrame, CodeClass};
pub use connection::{
    CloseCause, CloseInfo, Config, Connection, Delivery, Event, Initiator, Output, Role, Stats,
    Transmit,
};
pub use error::{ProtocolError, SendError};
pub use handshake::HandshakeError;
pub use message::{DataKind, Message, MessageRef, Utf8Bytes};
pub use utf8::{InvalidUtf8, Utf8Validator};
