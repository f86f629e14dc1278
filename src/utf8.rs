//! A streaming UTF-8 validator: its state spans frames, fragments and reads,
//! and it reports an error at the first byte that cannot start or continue a
//! valid sequence, before the rest of the message has arrived.
//!
//! RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but
//! finds that the byte stream is not, in fact, a valid UTF-8 stream, that
//! endpoint MUST _Fail the WebSocket Connection_." Failing at the first bad
//! byte (not at the end of the message) is what Autobahn's 6.4.* cases check.

/// The input is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates UTF-8 fed in arbitrary pieces.
///
/// ```
/// use wsmachine::Utf8Validator;
/// let mut v = Utf8Validator::new();
/// let euro = "€".as_bytes(); // E2 82 AC
/// assert!(v.feed(&euro[..1]).is_ok());
/// assert!(!v.is_complete());
/// assert!(v.feed(&euro[1..]).is_ok());
/// assert!(v.is_complete());
/// assert!(v.feed(&[0xE2, 0x28]).is_err()); // 0x28 cannot continue E2
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Utf8Validator {
    /// The bytes of an incomplete code point at the end of the input so far.
    partial: [u8; 4],
    partial_len: u8,
}

/// Equal when in the same logical state: the same unfinished code point
/// (stale bytes past it do not count).
impl PartialEq for Utf8Validator {
    fn eq(&self, other: &Self) -> bool {
        self.pending() == other.pending()
    }
}

impl Eq for Utf8Validator {}

impl Utf8Validator {
    /// The bytes of the unfinished code point.
    fn pending(&self) -> &[u8] {
        &self.partial[..usize::from(self.partial_len)]
    }

    /// A validator at the start of a text.
    pub const fn new() -> Self {
        Utf8Validator {
            partial: [0; 4],
            partial_len: 0,
        }
    }

    /// Whether the input so far ends on a code point boundary.
    pub const fn is_complete(&self) -> bool {
        self.partial_len == 0
    }

    /// Forgets all state (start of a new text).
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Feeds the next piece of input; `Err` as soon as it cannot be UTF-8,
    /// whatever bytes may follow.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            input = self.complete_partial(input)?;
        }
        // SIMD validation; the compat flavour reports where and how it failed.
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the input ends inside a sequence that is a
            // valid prefix so far; keep it for the next piece.
            Err(e) if e.error_len().is_none() => {
                let tail = &input[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = small_len(tail.len());
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Completes a code point split across pieces; returns the rest of `input`.
    fn complete_partial<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = usize::from(self.partial_len);
        let width = sequence_width(self.partial[0]);
        let take = (width - have).min(input.len());
        self.partial[have..have + take].copy_from_slice(&input[..take]);
        let now = have + take;
        match core::str::from_utf8(&self.partial[..now]) {
            Ok(_) => self.partial_len = 0,
            Err(e) if e.error_len().is_none() => self.partial_len = small_len(now),
            Err(_) => return Err(InvalidUtf8),
        }
        Ok(&input[take..])
    }
}

/// A length known to be below 4 (an incomplete code point).
fn small_len(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// The length of the sequence a lead byte starts (only called on lead bytes
/// that `from_utf8` accepted as a valid prefix, so 2..=4).
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xF4 => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn streaming(bytes: &[u8], cuts: &[usize]) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        Ok(v.is_complete())
    }

    #[test]
    fn fails_at_first_bad_byte() {
        let mut v = Utf8Validator::new();
        // F4 90 is beyond U+10FFFF: invalid at the second byte already.
        assert!(v.feed(&[0xF4]).is_ok());
        assert!(v.feed(&[0x90]).is_err());
        let mut v = Utf8Validator::new();
        // ED A0 starts a surrogate.
        assert!(v.feed(&[b'a', 0xED]).is_ok());
        assert!(v.feed(&[0xA0]).is_err());
        let mut v = Utf8Validator::new();
        assert!(v.feed(&[0xC0]).is_err()); // overlong lead
    }

    proptest! {
        #[test]
        fn streaming_equals_from_utf8(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            cuts in prop::collection::vec(0usize..64, 0..6),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let whole = core::str::from_utf8(&bytes).is_ok();
            let streamed = streaming(&bytes, &cuts) == Ok(true);
            prop_assert_eq!(whole, streamed);
        }

        #[test]
        fn streaming_accepts_every_split_of_valid_text(s in "\\PC{0,24}", cut in 0usize..100) {
            let bytes = s.as_bytes();
            prop_assert_eq!(streaming(bytes, &[cut % (bytes.len() + 1)]), Ok(true));
        }

        #[test]
        fn error_is_reported_no_later_than_the_first_bad_prefix(bytes in prop::collection::vec(any::<u8>(), 1..32)) {
            // Byte by byte: the validator fails exactly at the first prefix that
            // no continuation can make valid.
            let mut v = Utf8Validator::new();
            for i in 0..bytes.len() {
                let fed = v.feed(&bytes[i..=i]);
                let prefix_dead = matches!(core::str::from_utf8(&bytes[..=i]), Err(e) if e.error_len().is_some());
                prop_assert_eq!(fed.is_err(), prefix_dead);
                if fed.is_err() { break; }
            }
        }
    }
}
