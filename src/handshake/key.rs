//! The key exchange of RFC 6455 §4.1 and §4.2.2: the client's nonce and the
//! server's proof that it read it.

use alloc::string::String;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

/// RFC 6455 §1.3: the GUID a server appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key`.
///
/// RFC 6455 §4.2.2: base64 of the SHA-1 of the key (as sent, after trimming
/// whitespace) concatenated with the GUID `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`.
///
/// ```
/// use wsmachine::handshake::accept_key;
/// // RFC 6455 §1.3
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
#[must_use]
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    STANDARD.encode(sha1.finalize())
}

/// The `Sec-WebSocket-Key` value for a 16-byte nonce: its base64 encoding.
///
/// RFC 6455 §4.1: the nonce MUST be selected randomly for each connection; the
/// caller supplies it (this crate has no RNG).
#[must_use]
pub fn client_key(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_1_3_vector() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn client_key_is_base64_of_the_nonce() {
        // RFC 6455 §4.1: the §1.3 key is the nonce "the sample nonce".
        assert_eq!(client_key(*b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(client_key([0; 16]).len(), 24);
    }
}
