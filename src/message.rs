//! Message types: validated UTF-8 bytes, whole messages, and data kinds.

use core::fmt;
use core::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;
use faststr::FastStr;

use crate::utf8::{InvalidUtf8, SIMD_THRESHOLD};

/// Immutable, cheaply clonable bytes that are valid UTF-8.
///
/// Text payloads are handed out as `Utf8Bytes`: they share the read buffer's
/// allocation (no copy) and deref to `str` without validating again.
#[derive(Clone)]
pub struct Utf8Bytes(Inner);

/// Two validated-string types over `Bytes`, both zero copy and both checked
/// once on construction, without unsafe code of ours: `ByteString` for short
/// text (`core::str::from_utf8` is cheapest for a few bytes), ASCII text and
/// assembled `String`s; `FastStr` (simdutf8) for other long text, and inline
/// for copies of short text.
#[derive(Clone)]
enum Inner {
    Short(ByteString),
    Long(FastStr),
}

impl Default for Utf8Bytes {
    fn default() -> Self {
        Utf8Bytes::new()
    }
}

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Inner::Short(ByteString::new()))
    }

    /// A string from a static `str`, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Inner::Short(ByteString::from_static(s)))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Inner::Short(s) => s,
            Inner::Long(s) => s,
        }
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    /// Unwraps into the underlying bytes (no copy).
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Inner::Short(s) => s.into_bytes(),
            Inner::Long(s) => s.into_bytes(),
        }
    }
}

impl Utf8Bytes {
    /// Strings up to this long are stored inline by [`Utf8Bytes::inline`].
    pub(crate) const INLINE: usize = 30;

    /// A copy of a short string, stored inline (no heap, no shared count).
    #[inline(always)]
    pub(crate) fn inline(s: &str) -> Self {
        Utf8Bytes(Inner::Long(FastStr::new(s)))
    }
}

impl PartialEq for Utf8Bytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Utf8Bytes {}

impl PartialOrd for Utf8Bytes {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utf8Bytes {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl core::hash::Hash for Utf8Bytes {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Inner::Short(ByteString::from(s)))
    }
}

impl From<alloc::string::String> for Utf8Bytes {
    fn from(s: alloc::string::String) -> Self {
        Utf8Bytes(Inner::Short(ByteString::from(s)))
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;
    /// Validates `bytes` and wraps them without copying. Short or all-ASCII
    /// text (most JSON) takes `ByteString`, whose ASCII check is the cheapest
    /// validation and which wraps the `Bytes` as they are; other text is
    /// validated with SIMD (`FastStr`, which adds one small allocation).
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        let inner = if bytes.len() < SIMD_THRESHOLD || bytes.is_ascii() {
            Inner::Short(ByteString::try_from(bytes).map_err(|_| InvalidUtf8)?)
        } else {
            Inner::Long(FastStr::from_bytes(bytes).map_err(|_| InvalidUtf8)?)
        };
        Ok(Utf8Bytes(inner))
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads can be large and private: print the length only.
        write!(f, "Utf8Bytes(len={})", self.as_str().len())
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two kinds of data message (RFC 6455 §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Arbitrary bytes (opcode 0x2).
    Binary,
}

/// A complete data message.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: always valid UTF-8.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The kind of message.
    pub fn kind(&self) -> DataKind {
        self.as_message_ref().kind()
    }

    /// The payload bytes (for text, the UTF-8 encoding).
    pub fn as_bytes(&self) -> &[u8] {
        self.as_message_ref().as_bytes()
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message, borrowed.
    pub fn as_message_ref(&self) -> MessageRef<'_> {
        match self {
            Message::Text(t) => MessageRef::Text(t.as_str()),
            Message::Binary(b) => MessageRef::Binary(b),
        }
    }

    /// Unwraps the payload bytes (no copy).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// A text message from anything string-like.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        Message::Text(s.into())
    }

    /// A binary message from anything byte-like.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Message::Binary(b.into())
    }
}

/// A complete data message, borrowed from the connection for the length of
/// a call: what [`Connection::poll_messages`](crate::Connection::poll_messages)
/// hands out, with no allocation and no shared count per message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MessageRef<'a> {
    /// A text message: always valid UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

impl<'a> MessageRef<'a> {
    /// The kind of message.
    pub fn kind(&self) -> DataKind {
        match self {
            MessageRef::Text(_) => DataKind::Text,
            MessageRef::Binary(_) => DataKind::Binary,
        }
    }

    /// The payload bytes (for text, the UTF-8 encoding).
    pub fn as_bytes(&self) -> &'a [u8] {
        match *self {
            MessageRef::Text(t) => t.as_bytes(),
            MessageRef::Binary(b) => b,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An owned copy.
    pub fn to_message(&self) -> Message {
        match *self {
            MessageRef::Text(t) => Message::Text(Utf8Bytes::from(t)),
            MessageRef::Binary(b) => Message::Binary(Bytes::copy_from_slice(b)),
        }
    }
}

impl<'a> From<&'a Message> for MessageRef<'a> {
    fn from(message: &'a Message) -> Self {
        message.as_message_ref()
    }
}

impl fmt::Debug for MessageRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads can be large and private: print the length only.
        match self {
            MessageRef::Text(t) => write!(f, "Text(len={})", t.len()),
            MessageRef::Binary(b) => write!(f, "Binary(len={})", b.len()),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Text(t) => write!(f, "Text(len={})", t.len()),
            Message::Binary(b) => write!(f, "Binary(len={})", b.len()),
        }
    }
}
