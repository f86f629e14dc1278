//! The frame codec (RFC 6455 §5.2): header decoding and encoding, masking.
//!
//! This layer knows nothing of roles, messages or time; [`Connection`](crate::Connection)
//! applies the role and state rules on top. It is public for tools built on
//! the wire format (proxies, fuzzers, benchmarks).

mod mask;

pub use mask::{MaskGen, apply_mask, apply_mask_naive, mask_into};
pub(crate) use mask::{key_word, mask_block};

use crate::ProtocolError;

/// A frame opcode (RFC 6455 §5.2), limited to the defined ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Parses a 4-bit wire value; the reserved ones are a protocol error.
    pub const fn from_u8(value: u8) -> Result<OpCode, ProtocolError> {
        // RFC 6455 §5.2: 0x3-0x7 and 0xB-0xF are reserved for further frames.
        Ok(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// Close, Ping and Pong (opcodes with the high bit set) are control frames.
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The largest header: 2 bytes + 8 bytes of length + 4 bytes of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// RSV1-3 as the low three bits (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Decodes a header from the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; `Ok(Some((header, len)))` gives
    /// the header and how many bytes it took. Rules that need no context are
    /// checked here, in wire order: reserved opcodes, fragmented control
    /// frames, the 64-bit length's top bit, a length not in its shortest form,
    /// and control frames longer than 125 bytes (once the length is known).
    /// RSV bits, masking direction and limits depend on the connection and are
    /// left to the caller.
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        // RFC 6455 §5.5: control frames MUST NOT be fragmented.
        if opcode.is_control() && !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        let (payload_len, mut at) = match len7 {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                // RFC 6455 §5.2: the shortest form MUST be used (browsers
                // fail the connection on a longer one).
                if len < 126 {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(b);
                let len = u64::from_be_bytes(be);
                // RFC 6455 §5.2: the most significant bit MUST be 0.
                if len >> 63 != 0 {
                    return Err(ProtocolError::LengthTopBit);
                }
                if len <= 0xFFFF {
                    return Err(ProtocolError::NonMinimalLength(len));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        // RFC 6455 §5.5: control frames carry 125 bytes of payload or less.
        if opcode.is_control() && payload_len > 125 {
            return Err(ProtocolError::ControlTooLong(payload_len));
        }
        let mask = if masked {
            let Some(k) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            at,
        )))
    }

    /// Encodes the header into `out`, returning its length (2 to 14 bytes).
    ///
    /// Uses the minimal length encoding (RFC 6455 §5.2).
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let mut at = if len < 126 {
            #[allow(clippy::cast_possible_truncation)] // len < 126
            let len7 = len as u8;
            out[1] = mask_bit | len7;
            2
        } else if let Ok(len16) = u16::try_from(len) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&len16.to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

/// The largest payload [`encode_short`] takes: with a 2-byte header and a
/// masking key the frame is at most 32 bytes.
pub(crate) const SHORT_PAYLOAD: usize = 26;

/// Appends a frame with a payload of at most [`SHORT_PAYLOAD`] bytes to
/// `out`, masked with `mask` if given: at most 32 bytes. Fixed-size moves
/// only (the compiler keeps them in registers): the payload is loaded with
/// overlapping copies, masked a word at a time, and the frame is written
/// as 38 bytes and cut to its length; no call to `memcpy` for a few bytes.
/// A longer payload is a caller's bug: nothing is written.
#[inline(always)]
pub(crate) fn encode_short(
    out: &mut alloc::vec::Vec<u8>,
    first: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) {
    let len = payload.len();
    if len > SHORT_PAYLOAD {
        debug_assert!(false, "encode_short: {len}-byte payload");
        return;
    }
    let mut body = load_short(payload);
    let mut frame = [0u8; 6 + 32];
    frame[0] = first;
    #[allow(clippy::cast_possible_truncation)] // len <= 26
    let len7 = len as u8;
    let head = match mask {
        Some(key) => {
            mask_block(&mut body, key);
            frame[1] = 0x80 | len7;
            frame[2..6].copy_from_slice(&key);
            6
        }
        None => {
            frame[1] = len7;
            2
        }
    };
    frame[head..head + 32].copy_from_slice(&body);
    let start = out.len();
    out.extend_from_slice(&frame);
    out.truncate(start + head + len);
}

/// The first `src.len()` (at most 32) bytes of a zeroed 32-byte block set
/// to `src`, with a few fixed-size, possibly overlapping copies.
#[inline(always)]
pub(crate) fn load_short(src: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 32];
    let n = src.len();
    if n > 32 {
        return block;
    }
    if n >= 16 {
        block[..16].copy_from_slice(&src[..16]);
        block[n - 16..n].copy_from_slice(&src[n - 16..]);
    } else if n >= 8 {
        block[..8].copy_from_slice(&src[..8]);
        block[n - 8..n].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        block[..4].copy_from_slice(&src[..4]);
        block[n - 4..n].copy_from_slice(&src[n - 4..]);
    } else {
        for (b, s) in block.iter_mut().zip(src) {
            *b = *s;
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `encode_short` writes what the general encoder and `apply_mask`
    /// write, for every short length, both ways.
    #[test]
    fn short_frames_match_the_general_encoder() {
        for len in 0..=SHORT_PAYLOAD {
            let payload: alloc::vec::Vec<u8> =
                (0u8..).take(len).map(|i| i.wrapping_mul(37) ^ 5).collect();
            for mask in [None, Some([0x12, 0x34, 0x56, 0x78])] {
                let header = FrameHeader {
                    fin: true,
                    rsv: 0,
                    opcode: OpCode::Binary,
                    mask,
                    payload_len: len as u64,
                };
                let mut head = [0u8; MAX_HEADER_LEN];
                let n = header.encode(&mut head);
                let mut expected = head[..n].to_vec();
                let mut body = payload.clone();
                if let Some(key) = mask {
                    apply_mask(&mut body, key, 0);
                }
                expected.extend_from_slice(&body);
                let mut out = alloc::vec![9u8; 3];
                encode_short(&mut out, head[0], mask, &payload);
                assert_eq!(&out[..3], [9; 3]);
                assert_eq!(out[3..], expected[..], "len {len} mask {mask:?}");
            }
            assert_eq!(load_short(&payload)[..len], payload[..]);
            assert!(load_short(&payload)[len..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn length_boundaries_use_minimal_encoding() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ] {
            let h = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            let mut out = [0; MAX_HEADER_LEN];
            let n = h.encode(&mut out);
            assert_eq!(n, header_len, "{len}");
            assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((h, n))));
            // every proper prefix is incomplete, never an error
            for cut in 0..n {
                assert_eq!(
                    FrameHeader::decode(&out[..cut]),
                    Ok(None),
                    "{len} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn a_length_in_a_longer_form_than_needed_is_an_error() {
        for (buf, len) in [
            (&[0x82, 126, 0, 0][..], 0),
            (&[0x82, 126, 0, 125], 125),
            (&[0x82, 127, 0, 0, 0, 0, 0, 0, 0, 125], 125),
            (&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 65535),
        ] {
            assert_eq!(
                FrameHeader::decode(buf),
                Err(ProtocolError::NonMinimalLength(len)),
                "{buf:?}"
            );
        }
        // The shortest forms of the boundary lengths are fine.
        assert!(FrameHeader::decode(&[0x82, 126, 0, 126]).is_ok_and(|h| h.is_some()));
        let buf = [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0];
        assert!(FrameHeader::decode(&buf).is_ok_and(|h| h.is_some()));
    }

    #[test]
    fn top_bit_of_64_bit_length_is_an_error() {
        let buf = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&buf), Err(ProtocolError::LengthTopBit));
    }
}
