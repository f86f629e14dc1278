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

/// Below this many bytes the scalar validator (`core::str::from_utf8`)
/// beats the SIMD one.
pub(crate) const SIMD_THRESHOLD: usize = 64;

/// `bytes` as text, if valid, by the faster validator for their length.
pub(crate) fn validate(bytes: &[u8]) -> Option<&str> {
    if bytes.len() < SIMD_THRESHOLD {
        core::str::from_utf8(bytes).ok()
    } else {
        simdutf8::basic::from_utf8(bytes).ok()
    }
}

/// The block [`Utf8Validator::feed_into`] checks and copies at a time.
const COPY_BLOCK: usize = 4 * 1024;

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
    pub fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        self.feed_with(input, |_| {})
    }

    /// Feeds the next piece of input, as [`feed`](Self::feed), and appends
    /// the text it completes to `out`: each byte is validated once, and the
    /// assembled `String` needs no second check.
    ///
    /// ```
    /// use wsmachine::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// let mut out = String::new();
    /// let euro = "a€".as_bytes(); // 61 E2 82 AC
    /// v.feed_into(&euro[..2], &mut out).unwrap();
    /// assert_eq!(out, "a"); // E2 waits for the rest of its code point
    /// v.feed_into(&euro[2..], &mut out).unwrap();
    /// assert_eq!(out, "a€");
    /// ```
    pub fn feed_into(
        &mut self,
        input: &[u8],
        out: &mut alloc::string::String,
    ) -> Result<(), InvalidUtf8> {
        // In blocks that stay in L1 from the check to the copy: a 64 KiB
        // read checked whole is partly out of L1 again when copied (about
        // 10% faster for long text).
        for block in input.chunks(COPY_BLOCK) {
            self.feed_with(block, |text| out.push_str(text))?;
        }
        Ok(())
    }

    /// The validation behind `feed` and `feed_into`: `sink` gets the text
    /// completed by `input`, in order.
    fn feed_with(
        &mut self,
        mut input: &[u8],
        mut sink: impl FnMut(&str),
    ) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            input = self.complete_partial(input, &mut sink)?;
            if self.partial_len > 0 {
                return Ok(()); // `input` was used up inside the code point
            }
        }
        // Whole code points go through SIMD validation in one call; an
        // unfinished one at the end (at most 3 bytes) waits for the next piece.
        let whole = input.len() - unfinished_tail(input);
        let text = simdutf8::basic::from_utf8(&input[..whole]).map_err(|_| InvalidUtf8)?;
        sink(text);
        let tail = &input[whole..];
        if !tail.is_empty() {
            // Fail now if no continuation can make the tail valid.
            match core::str::from_utf8(tail) {
                Err(e) if e.error_len().is_none() => {}
                _ => return Err(InvalidUtf8),
            }
            self.partial[..tail.len()].copy_from_slice(tail);
            self.partial_len = small_len(tail.len());
        }
        Ok(())
    }

    /// Completes a code point split across pieces, giving it to `sink` once
    /// whole; returns the rest of `input`.
    fn complete_partial<'a>(
        &mut self,
        input: &'a [u8],
        sink: &mut impl FnMut(&str),
    ) -> Result<&'a [u8], InvalidUtf8> {
        let have = usize::from(self.partial_len);
        let width = sequence_width(self.partial[0]);
        let take = (width - have).min(input.len());
        self.partial[have..have + take].copy_from_slice(&input[..take]);
        let now = have + take;
        match core::str::from_utf8(&self.partial[..now]) {
            Ok(text) => {
                sink(text);
                self.partial_len = 0;
            }
            Err(e) if e.error_len().is_none() => self.partial_len = small_len(now),
            Err(_) => return Err(InvalidUtf8),
        }
        Ok(&input[take..])
    }
}

/// The length of an unfinished code point at the end of `bytes`: a lead byte
/// in the last 3 bytes whose sequence is longer than what follows it. Bytes
/// that cannot lead a sequence count as finished (validation rejects them).
fn unfinished_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: its lead is further back
        }
        let width = match byte {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if width > back { back } else { 0 };
    }
    0
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

    /// After `bytes` went through `feed_into` (giving `fed`, `v`, `out`):
    /// valid input was accepted and assembled whole; invalid input failed
    /// (or is unfinished), and what was appended is a valid prefix of it.
    fn assembled_exactly_the_valid_text(
        bytes: &[u8],
        fed: Result<(), InvalidUtf8>,
        v: &Utf8Validator,
        out: &str,
    ) -> Result<(), TestCaseError> {
        match core::str::from_utf8(bytes) {
            Ok(whole) => {
                prop_assert_eq!(fed, Ok(()));
                prop_assert!(v.is_complete());
                prop_assert_eq!(out, whole);
            }
            Err(e) => {
                prop_assert!(fed.is_err() || !v.is_complete());
                prop_assert!(out.len() <= e.valid_up_to());
                prop_assert_eq!(out.as_bytes(), &bytes[..out.len()]);
            }
        }
        Ok(())
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
        fn feed_into_assembles_exactly_the_valid_text(
            bytes in prop::collection::vec(any::<u8>(), 0..64),
            text in "\\PC{0,24}",
            valid in any::<bool>(),
            cuts in prop::collection::vec(0usize..64, 0..6),
        ) {
            let bytes = if valid { text.into_bytes() } else { bytes };
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut v = Utf8Validator::new();
            let mut out = alloc::string::String::new();
            let mut fed = Ok(());
            let mut start = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                let cut = cut.clamp(start, bytes.len());
                fed = fed.and_then(|()| v.feed_into(&bytes[start..cut], &mut out));
                start = cut;
            }
            assembled_exactly_the_valid_text(&bytes, fed, &v, &out)?;
        }

        #[test]
        fn feed_into_across_copy_blocks(
            // Longer than COPY_BLOCK, so code points straddle the blocks
            // feed_into works in; sometimes one byte broken.
            unit in "\\PC{1,12}",
            len in COPY_BLOCK..3 * COPY_BLOCK,
            broken in prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = unit.repeat(len / unit.len() + 1).into_bytes();
            if let Some((at, byte)) = broken {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            let cut = cut.index(bytes.len() + 1);
            let mut v = Utf8Validator::new();
            let mut out = alloc::string::String::new();
            let fed = v
                .feed_into(&bytes[..cut], &mut out)
                .and_then(|()| v.feed_into(&bytes[cut..], &mut out));
            assembled_exactly_the_valid_text(&bytes, fed, &v, &out)?;
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
