//! Workload data: the expected messages, the pre-encoded masked client
//! streams (encoded here, independently of every implementation under test),
//! the per-message checker, and an independent checker of encoder output.

use std::io::Write as _;

use bytes::Bytes;

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dir {
    /// Server role: the implementation decodes `stream`.
    Decode,
    /// Client role: the implementation encodes the messages in `payloads`.
    Encode,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Msgs,
    Bytes,
}

/// Bytes at the start of each message of a tagged workload that carry its
/// index (ASCII, so text stays valid).
pub const TAG: usize = 8;

/// The index tag of message `i`: 8 ASCII characters `'0'..='o'`, 6 bits each.
#[inline]
pub fn tag(i: usize) -> [u8; TAG] {
    let mut t = [0; TAG];
    for (j, b) in t.iter_mut().enumerate() {
        *b = b'0' + ((i >> (6 * j)) & 63) as u8;
    }
    t
}

pub struct Workload {
    pub id: &'static str,
    pub title: String,
    pub dir: Dir,
    pub unit: Unit,
    pub n: usize,
    pub msg_len: usize,
    pub text: bool,
    /// `k` distinct message bodies, back to back. Message `i` is body `i % k`;
    /// when `tagged`, its first `TAG` bytes are replaced by `tag(i)`, so every
    /// message is unique while the expected data stays small enough to stay in
    /// cache (the check then costs little next to the work measured).
    pub bodies: Bytes,
    pub k: usize,
    pub tagged: bool,
    /// Decode workloads: the masked client frames, back to back.
    pub stream: Bytes,
}

impl Workload {
    /// Message `i` of an untagged workload (every message distinct, `k == n`).
    pub fn payload(&self, i: usize) -> &[u8] {
        debug_assert!(!self.tagged && self.k == self.n);
        &self.bodies[i * self.msg_len..(i + 1) * self.msg_len]
    }

    /// The same as a `Bytes` (a reference-counted slice, no copy).
    pub fn payload_bytes(&self, i: usize) -> Bytes {
        debug_assert!(!self.tagged && self.k == self.n);
        self.bodies.slice(i * self.msg_len..(i + 1) * self.msg_len)
    }

    /// Message `i`, built (for stream encoding and error messages).
    pub fn message(&self, i: usize) -> Vec<u8> {
        let b = i % self.k * self.msg_len;
        let mut m = self.bodies[b..b + self.msg_len].to_vec();
        if self.tagged {
            m[..TAG].copy_from_slice(&tag(i));
        }
        m
    }

    pub fn total_payload(&self) -> usize {
        self.n * self.msg_len
    }

    /// A copy whose stream has bit 0 of one payload byte of the last frame
    /// flipped (text stays valid UTF-8), for checking that every
    /// implementation's run really verifies payloads.
    pub fn corrupted(&self) -> Workload {
        let mut stream = self.stream.to_vec();
        let at = stream.len() - 3;
        stream[at] ^= 1;
        Workload {
            id: self.id,
            title: self.title.clone(),
            dir: self.dir,
            unit: self.unit,
            n: self.n,
            msg_len: self.msg_len,
            text: self.text,
            bodies: self.bodies.clone(),
            k: self.k,
            tagged: self.tagged,
            stream: Bytes::from(stream),
        }
    }

    pub fn checker(&self) -> Checker<'_> {
        Checker { w: self, i: 0 }
    }

    /// Bytes a client writes for `count` messages (header, mask key, payload).
    pub fn wire_len(&self, count: usize) -> u64 {
        let head = match self.msg_len {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        (count * (head + 4 + self.msg_len)) as u64
    }
}

/// Compares each decoded message with the expected one, in order, byte for
/// byte; allocates nothing unless a message differs.
pub struct Checker<'a> {
    w: &'a Workload,
    i: usize,
}

impl Checker<'_> {
    #[inline]
    pub fn check(&mut self, text: bool, payload: &[u8]) -> Result<(), String> {
        let w = self.w;
        let len = w.msg_len;
        let b = self.i % w.k * len;
        let body = &w.bodies[b..b + len];
        let same = if w.tagged {
            payload.len() == len && payload[..TAG] == tag(self.i) && payload[TAG..] == body[TAG..]
        } else {
            payload == body
        };
        if same && text == w.text && self.i < w.n {
            self.i += 1;
            Ok(())
        } else {
            Err(self.mismatch(text, payload))
        }
    }

    #[cold]
    fn mismatch(&self, text: bool, payload: &[u8]) -> String {
        let w = self.w;
        if self.i >= w.n {
            return format!("more than the {} expected messages", w.n);
        }
        if text != w.text {
            return format!("message {}: text={text}, expected text={}", self.i, w.text);
        }
        if payload.len() != w.msg_len {
            return format!(
                "message {}: {} bytes, expected {}",
                self.i,
                payload.len(),
                w.msg_len
            );
        }
        let expected = w.message(self.i);
        let at = payload
            .iter()
            .zip(&expected)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        format!("message {}: payload differs at byte {at}", self.i)
    }

    pub fn done(&self) -> bool {
        self.i == self.w.n
    }

    pub fn finish(&self) -> Result<(), String> {
        if self.done() {
            Ok(())
        } else {
            Err(format!("{} of {} messages decoded", self.i, self.w.n))
        }
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Appends one masked client frame.
fn put_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) {
    out.push(u8::from(fin) << 7 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len < 65536 {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&key);
    let start = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[start..].iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

/// Encodes every message of `w` as masked client frames, each split into
/// `fragments` frames of equal size.
fn encode_stream(w: &Workload, fragments: usize) -> Bytes {
    let per = w.msg_len.div_ceil(fragments);
    let mut out = Vec::with_capacity(w.n * (w.msg_len + 14 * fragments));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let first_op = if w.text { OP_TEXT } else { OP_BINARY };
    for i in 0..w.n {
        let msg = w.message(i);
        let pieces: Vec<&[u8]> = msg.chunks(per).collect();
        let last = pieces.len() - 1;
        for (j, piece) in pieces.into_iter().enumerate() {
            let key = (rng.next() as u32 | 1).to_le_bytes();
            let op = if j == 0 { first_op } else { OP_CONT };
            put_frame(&mut out, j == last, op, piece, key);
        }
    }
    Bytes::from(out)
}

/// Text of exactly `len` bytes: ASCII letters with the given per-mille shares
/// of 2-, 3- and 4-byte characters.
fn text(out: &mut Vec<u8>, len: usize, rng: &mut Rng, two: u64, three: u64, four: u64) {
    let end = out.len() + len;
    let mut buf = [0u8; 4];
    while out.len() < end {
        let r = rng.next();
        let roll = (r >> 32) % 1000;
        let c = if roll < two {
            'é'
        } else if roll < two + three {
            '€'
        } else if roll < two + three + four {
            '😀'
        } else {
            (b'a' + (r % 26) as u8) as char
        };
        let s = c.encode_utf8(&mut buf);
        if out.len() + s.len() <= end {
            out.extend_from_slice(s.as_bytes());
        } else {
            out.push(b'.');
        }
    }
}

/// Distinct bodies kept for tagged workloads: about 512 KiB, which stays in
/// a core's L2 cache next to the decoder's own buffers.
const BODY_BUDGET: usize = 512 * 1024;

/// Builds a workload. `tagged`: messages share `BODY_BUDGET / msg_len`
/// bodies and carry their index (see `Workload::bodies`); otherwise all `n`
/// messages are generated and stored.
fn build(
    id: &'static str,
    title: String,
    dir: Dir,
    unit: Unit,
    n: usize,
    msg_len: usize,
    is_text: bool,
    fragments: usize,
    tagged: bool,
    fill: impl Fn(&mut Vec<u8>, usize, usize, &mut Rng),
) -> Workload {
    let k = if tagged {
        (BODY_BUDGET / msg_len).clamp(1, n)
    } else {
        n
    };
    let mut bodies = Vec::with_capacity(k * msg_len);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ id.len() as u64);
    for i in 0..k {
        if tagged {
            // Placeholder for the tag (ASCII, so text stays valid).
            bodies.extend_from_slice(&[b'#'; TAG]);
            fill(&mut bodies, i, msg_len - TAG, &mut rng);
        } else {
            fill(&mut bodies, i, msg_len, &mut rng);
        }
        assert_eq!(
            bodies.len(),
            (i + 1) * msg_len,
            "{id}: body {i} has the wrong length"
        );
    }
    if is_text {
        for m in bodies.chunks(msg_len) {
            assert!(
                std::str::from_utf8(m).is_ok(),
                "{id}: invalid UTF-8 generated"
            );
        }
    }
    let mut w = Workload {
        id,
        title,
        dir,
        unit,
        n,
        msg_len,
        text: is_text,
        bodies: Bytes::from(bodies),
        k,
        tagged,
        stream: Bytes::new(),
    };
    if dir == Dir::Decode {
        w.stream = encode_stream(&w, fragments);
    }
    w
}

fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// All workloads, in report order. `quick` shrinks the counts.
pub fn workloads(quick: bool, only: &dyn Fn(&str) -> bool) -> Vec<Workload> {
    let q = |full: usize, small: usize| if quick { small } else { full };
    let mut v = Vec::new();
    // 16 distinct ASCII bytes per message: "msg-" and 12 digits.
    let small_ascii = |out: &mut Vec<u8>, i: usize, _: usize, _: &mut Rng| {
        write!(out, "msg-{i:012}").unwrap();
    };
    let binary = |out: &mut Vec<u8>, _: usize, len: usize, rng: &mut Rng| {
        let start = out.len();
        out.resize(start + len, 0);
        for w in out[start..].chunks_mut(8) {
            let r = rng.next().to_le_bytes();
            w.copy_from_slice(&r[..w.len()]);
        }
    };
    // 5% of characters 'é' (2 bytes), the rest ASCII letters.
    let text_1k =
        |out: &mut Vec<u8>, _: usize, len: usize, rng: &mut Rng| text(out, len, rng, 50, 0, 0);
    // 3% 'é', 1% '€' (3 bytes), 1% '😀' (4 bytes), the rest ASCII letters.
    let big_text =
        |out: &mut Vec<u8>, _: usize, len: usize, rng: &mut Rng| text(out, len, rng, 30, 10, 10);
    if only("W1") {
        let n = q(1_000_000, 200_000);
        v.push(build(
            "W1",
            format!("decode {} x 16 B ASCII text, 1 frame each", count(n)),
            Dir::Decode,
            Unit::Msgs,
            n,
            16,
            true,
            1,
            false,
            small_ascii,
        ));
    }
    if only("W2") {
        let n = q(65_536, 16_384);
        v.push(build(
            "W2",
            format!("decode {} x 1 KiB text, 5% 2-byte chars", count(n)),
            Dir::Decode,
            Unit::Bytes,
            n,
            1024,
            true,
            1,
            true,
            text_1k,
        ));
    }
    if only("W3") {
        let n = q(1024, 256);
        v.push(build(
            "W3",
            format!("decode {} x 64 KiB binary", count(n)),
            Dir::Decode,
            Unit::Bytes,
            n,
            64 * 1024,
            false,
            1,
            true,
            binary,
        ));
    }
    if only("W4a") {
        let n = q(64, 16);
        v.push(build(
            "W4a",
            format!(
                "decode {} x 1 MiB text (ASCII + 2/3/4-byte chars), 1 frame each",
                count(n)
            ),
            Dir::Decode,
            Unit::Bytes,
            n,
            1 << 20,
            true,
            1,
            true,
            big_text,
        ));
    }
    if only("W4b") {
        let n = q(64, 16);
        let mut w = build(
            "W4b",
            format!(
                "decode {} x 1 MiB text, each in 64 fragments of 16 KiB",
                count(n)
            ),
            Dir::Decode,
            Unit::Bytes,
            n,
            1 << 20,
            true,
            64,
            true,
            big_text,
        );
        // Fragment boundaries that fall inside a character (a continuation
        // byte starts the next fragment).
        let split: usize = (0..n)
            .map(|i| {
                let m = w.message(i);
                (1..64).filter(|j| m[j * (16 << 10)] & 0xC0 == 0x80).count()
            })
            .sum();
        w.title += &format!(" ({split} of {} boundaries split a character)", n * 63);
        v.push(w);
    }
    if only("W5a") {
        let n = q(1_000_000, 200_000);
        v.push(build(
            "W5a",
            format!("encode {} x 16 B binary, client role (masked)", count(n)),
            Dir::Encode,
            Unit::Msgs,
            n,
            16,
            false,
            1,
            false,
            small_ascii,
        ));
    }
    if only("W5b") {
        let n = q(1024, 256);
        v.push(build(
            "W5b",
            format!("encode {} x 64 KiB binary, client role (masked)", count(n)),
            Dir::Encode,
            Unit::Bytes,
            n,
            64 * 1024,
            false,
            1,
            false,
            binary,
        ));
    }
    v
}

/// A masked 16-byte client text frame (for the memory figures).
pub fn one_small_frame() -> Vec<u8> {
    let mut out = Vec::new();
    put_frame(&mut out, true, OP_TEXT, b"0123456789abcdef", [1, 2, 3, 4]);
    out
}

/// Checks, independently of every implementation, that `wire` is exactly the
/// first `count` messages of `w` as single masked binary client frames.
pub fn verify_client_frames(wire: &[u8], w: &Workload, count: usize) -> Result<(), String> {
    let mut p = 0;
    for i in 0..count {
        let err = |what: &str| format!("encoded frame {i} (offset {p}): {what}");
        if wire.len() < p + 2 {
            return Err(err("truncated header"));
        }
        if wire[p] != 0x80 | OP_BINARY {
            return Err(err(&format!("first byte {:#04x}, expected 0x82", wire[p])));
        }
        if wire[p + 1] & 0x80 == 0 {
            return Err(err("not masked"));
        }
        let (len, head) = match wire[p + 1] & 0x7f {
            126 if wire.len() >= p + 4 => {
                (u16::from_be_bytes([wire[p + 2], wire[p + 3]]) as usize, 4)
            }
            127 if wire.len() >= p + 10 => (
                u64::from_be_bytes(wire[p + 2..p + 10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return Err(err("truncated length")),
            l => (l as usize, 2),
        };
        if len != w.msg_len {
            return Err(err(&format!("length {len}, expected {}", w.msg_len)));
        }
        let start = p + head + 4;
        if wire.len() < start + len {
            return Err(err("truncated payload"));
        }
        let key = &wire[p + head..start];
        let expected = w.payload(i);
        for (j, (&b, &e)) in wire[start..start + len].iter().zip(expected).enumerate() {
            if b ^ key[j & 3] != e {
                return Err(err(&format!("payload differs at byte {j}")));
            }
        }
        p = start + len;
    }
    if p != wire.len() {
        return Err(format!(
            "{} bytes after the {count} expected frames",
            wire.len() - p
        ));
    }
    Ok(())
}
