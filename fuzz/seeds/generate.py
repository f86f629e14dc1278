#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/seeds/<target>/.

Run from anywhere: python3 fuzz/seeds/generate.py. Deterministic; the files it
writes are committed. Layouts are described at the top of each target.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7


def mask(payload, key=KEY):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(opcode, payload=b"", fin=True, key=None, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if key else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if key:
        return head + key + mask(payload, key)
    return head + payload


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def both(name, frames_fn, cfg=0, splits=b""):
    """A frame_decode seed, unmasked (for the client role) and masked (server)."""
    pre = bytes([cfg, len(splits)]) + splits
    write("frame_decode", name + "_unmasked", pre + frames_fn(None))
    write("frame_decode", name + "_masked", pre + frames_fn(KEY))


# --- frame_decode: [cfg, nsplit, splits..., wire...] -------------------------
# RFC 6455 §5.7 examples, byte-exact.
write("frame_decode", "rfc_hello_unmasked", b"\x00\x00" + bytes.fromhex("810548656c6c6f"))
write("frame_decode", "rfc_hello_masked", b"\x00\x00" + bytes.fromhex("818537fa213d7f9f4d5158"))
write("frame_decode", "rfc_fragmented", b"\x00\x00" + bytes.fromhex("010348656c" "80026c6f"))
write("frame_decode", "rfc_ping", b"\x00\x00" + bytes.fromhex("890548656c6c6f"))
write("frame_decode", "rfc_pong_masked", b"\x00\x00" + bytes.fromhex("8a8537fa213d7f9f4d5158"))
write("frame_decode", "rfc_256_binary", b"\x00\x00" + bytes.fromhex("827e0100") + bytes(range(256)))
# 64-bit length announcing 65536 bytes, only some of them present.
write("frame_decode", "rfc_64k_header", b"\x00\x00" + bytes.fromhex("827f0000000000010000") + bytes(100))
both("text_split", lambda k: frame(1, "héllo wörld €".encode(), key=k), splits=bytes([1, 3]))
both("frag_text_ping_between", lambda k: frame(1, b"frag", fin=False, key=k) + frame(9, b"p", key=k)
     + frame(0, "ment €".encode(), key=k), cfg=0x80, splits=bytes([2]))
both("close_normal", lambda k: frame(8, struct.pack(">H", 1000) + b"bye", key=k))
both("close_empty", lambda k: frame(8, b"", key=k))
both("binary_then_close", lambda k: frame(2, bytes(300), key=k) + frame(8, struct.pack(">H", 4000), key=k),
     cfg=0x2E, splits=bytes([7, 0, 130]))
# Crafted invalid frames.
both("bad_rsv", lambda k: frame(1, b"x", key=k, rsv=4))
both("bad_opcode", lambda k: frame(3, b"x", key=k))
both("bad_fragmented_ping", lambda k: frame(9, b"x", fin=False, key=k))
both("bad_long_ping", lambda k: frame(9, bytes(126), key=k))
both("bad_continuation", lambda k: frame(0, b"x", key=k))
both("bad_interleaved", lambda k: frame(1, b"a", fin=False, key=k) + frame(2, b"b", key=k))
both("bad_close_1_byte", lambda k: frame(8, b"\x03", key=k))
both("bad_close_code_1005", lambda k: frame(8, struct.pack(">H", 1005), key=k))
both("bad_close_reason_utf8", lambda k: frame(8, struct.pack(">H", 1000) + b"\xff", key=k))
both("bad_utf8_text", lambda k: frame(1, b"\xce\xba\xed\xa0\x80", key=k), splits=bytes([3]))
both("bad_utf8_across_fragments", lambda k: frame(1, b"\xe2\x82", fin=False, key=k) + frame(0, b"(", key=k))
both("too_big_frame", lambda k: frame(2, bytes(200), key=k), cfg=0x04)
both("too_big_message", lambda k: frame(2, bytes(8), fin=False, key=k) + frame(0, bytes(8), key=k), cfg=0x18)
write("frame_decode", "bad_length_top_bit", b"\x00\x00" + bytes.fromhex("827f8000000000000000"))

# --- utf8: [nsplit, splits..., text...] --------------------------------------
write("utf8", "ascii", b"\x00" + b"Hello, world")
write("utf8", "mixed_bytewise", b"\x01\x01" + "Hello-µ@ßöäüàá-UTF-8!! κόσμε 𝄞".encode())
write("utf8", "euro_split", b"\x02\x01\x02" + "€€€".encode())
write("utf8", "surrogate", b"\x01\x02" + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
write("utf8", "overlong", b"\x00" + b"\xc0\xaf")
write("utf8", "beyond_max", b"\x01\x01" + b"\xf4\x90\x80\x80")
write("utf8", "truncated_end", b"\x00" + b"ab\xe2\x82")
write("utf8", "max_code_point", b"\x01\x03" + b"\xf4\x8f\xbf\xbf\xef\xbf\xbf")


# --- structured targets: inputs in the `arbitrary` 1.x format ---------------
class Arb:
    """Encodes values the way `arbitrary` 1.x decodes them (derive, take_rest).

    Collection sizes of strings are taken from the end of the data; seeds are
    kept under 256 bytes so each size is one byte.
    """

    def __init__(self):
        self.front = bytearray()
        self.sizes = []

    def u8(self, v):
        self.front.append(v)
        return self

    def boolean(self, b):
        return self.u8(1 if b else 0)

    def u16(self, v):
        self.front += struct.pack("<H", v)
        return self

    def u64(self, v):
        self.front += struct.pack("<Q", v)
        return self

    def variant(self, i, count):
        x = -(-(i << 32) // count)  # ceil
        assert (x * count) >> 32 == i and x < 1 << 32
        self.front += struct.pack("<I", x)
        return self

    def option(self, v, f):
        self.boolean(v is not None)
        if v is not None:
            f(v)
        return self

    def vec_u8(self, data):
        for b in data:
            self.boolean(True).u8(b)
        return self.boolean(False)

    def string(self, text):
        data = text.encode()
        self.sizes.append(len(data))
        self.front += data
        return self

    def key(self, k=KEY):
        self.front += k
        return self

    def done(self):
        data = bytes(self.front) + bytes(reversed(self.sizes))
        assert len(data) <= 256, len(data)
        return data


# connection_ops: Script { client, seed, ping_ms: Option<u8>, pong_ms: u8,
# idle_ms: Option<u16>, close_ms: u8, auto_pong, chunks, max_buffered:
# Option<u16>, max_frame: Option<u16>, max_message: Option<u16>, steps }
OPC = {"cont": 0, "text": 1, "binary": 2, "close": 3, "ping": 4, "pong": 5}
OPS = 14


def script(client, ping=None, pong=20, idle=None, close=50, auto_pong=True, chunks=False,
           max_buffered=None, max_frame=None, max_message=None):
    a = Arb()
    a.boolean(client).u8(7).option(ping, a.u8).u8(pong).option(idle, a.u16).u8(close)
    a.boolean(auto_pong).boolean(chunks)
    for lim in (max_buffered, max_frame, max_message):
        a.option(lim, a.u16)
    return a


def step(a, hold=False):
    """Call after writing the op: marks the step's `hold` flag."""
    return a.boolean(hold)


def op(a, name, *args):
    a.boolean(True)  # take_rest: another step follows
    if name == "read_bytes":
        a.variant(0, OPS).vec_u8(args[0])
    elif name == "read_frame":
        opcode, payload, fin = args
        a.variant(1, OPS).variant(OPC[opcode], 6).vec_u8(payload).boolean(fin).key()
    elif name == "read_close":
        code, reason = args
        a.variant(2, OPS).u16(code).string(reason).key()
    elif name == "read_pong_for_last_ping":
        a.variant(3, OPS).key()
    elif name == "eof":
        a.variant(4, OPS)
    elif name == "advance":
        a.variant(5, OPS).u16(args[0])
    elif name == "jump":
        a.variant(6, OPS).u16(args[0])
    elif name == "handle_timeout":
        a.variant(7, OPS)
    elif name == "handle_timeout_at":
        a.variant(8, OPS).u16(args[0])
    elif name == "send_text":
        a.variant(9, OPS).string(args[0])
    elif name == "send_binary":
        a.variant(10, OPS).vec_u8(args[0])
    elif name == "send_fragment":
        text, data, fin = args
        a.variant(11, OPS).boolean(text).vec_u8(data).boolean(fin)
    elif name == "ping":
        a.variant(12, OPS).vec_u8(args[0])
    elif name == "close":
        code, reason = args
        a.variant(13, OPS).u16(code).string(reason)
    else:
        raise ValueError(name)
    return step(a, hold=bool(getattr(op, "hold", False)))


def ops_seed(name, a, steps):
    for s_ in steps:
        hold = s_[-1] == "hold"
        if hold:
            s_ = s_[:-1]
        op.hold = hold
        op(a, *s_)
    op.hold = False
    write("connection_ops", name, a.done())


MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")
ops_seed("server_rfc_hello", script(False), [
    ("read_bytes", MASKED_HELLO[:3]), ("read_bytes", MASKED_HELLO[3:]), ("send_text", "Hello"),
    ("read_bytes", frame(8, struct.pack(">H", 1000), key=KEY))])
ops_seed("client_rfc_fragments_ping", script(True), [
    ("read_bytes", bytes.fromhex("010348656c")), ("read_bytes", bytes.fromhex("80026c6f")),
    ("read_bytes", bytes.fromhex("890548656c6c6f")), ("close", 1000, "bye"), ("read_close", 1000, ""),
    ("eof",)])
ops_seed("client_keepalive_rtt", script(True, ping=10, pong=20, idle=500, close=50), [
    ("advance", 11), ("read_pong_for_last_ping",), ("advance", 11), ("advance", 40), ("handle_timeout",)])
ops_seed("server_chunks_fragments_clock_back", script(False, chunks=True, ping=100), [
    ("send_fragment", True, "hé".encode()[:2], False), ("send_fragment", True, "hé".encode()[2:] + b"llo", True),
    ("ping", b"app"), ("read_frame", "ping", b"x", True), ("read_frame", "text", "é".encode(), False),
    ("read_frame", "cont", b"!", True), ("jump", 1000), ("handle_timeout_at", 500), ("handle_timeout",),
    ("close", 1001, "away"), ("advance", 300)])
ops_seed("server_unmasked_is_1002", script(False), [
    ("read_bytes", bytes.fromhex("810548656c6c6f")), ("send_binary", b"\x00\x01"), ("advance", 10)])
ops_seed("server_idle_timeout", script(False, idle=30), [("advance", 100)])
ops_seed("client_close_held_then_eof", script(True, close=5), [
    ("read_close", 1000, "bye", "hold"), ("advance", 1), ("eof",)])
ops_seed("client_small_limits", script(True, max_frame=8, max_message=12, max_buffered=40), [
    ("read_frame", "binary", bytes(6), False), ("read_frame", "cont", bytes(7), True),
    ("send_binary", bytes(20)), ("send_binary", bytes(20))])


# pair: Script { latency_ms: u8, max_chunk: u8, seed: u64, middlebox_idle_ms:
# Option<u16>, client: Timers, server: Timers, ops }
# Timers { ping: Option<u8>, pong_ms: u16, idle_ms: Option<u16>, close_ms: u16, chunks }
PAIR_OPS = 8
C, S = 0, 1


def pair(latency=10, max_chunk=3, seed=1, middlebox=None, timers=((None, 1000, None, 1000, False),) * 2,
         deflate=None):
    """deflate: ((server_bits, client_bits, server_nct, client_nct, level, min_size) for the
    client, the same for the server), window bits as 8 + n % 8."""
    a = Arb()
    a.u8(latency).u8(max_chunk).u64(seed).option(middlebox, a.u16)
    for ping, pong, idle, close, chunks in timers:
        a.option(ping, a.u8).u16(pong).option(idle, a.u16).u16(close).boolean(chunks)

    def sides(d):
        for sb, cb, snct, cnct, level, min_size in d:
            a.u8(sb).u8(cb).boolean(snct).boolean(cnct).u8(level).u8(min_size)

    a.option(deflate, sides)
    return a


def pop(a, name, *args):
    a.boolean(True)
    if name == "send_text":
        a.variant(0, PAIR_OPS).variant(args[0], 2).string(args[1])
    elif name == "send_binary":
        a.variant(1, PAIR_OPS).variant(args[0], 2).vec_u8(args[1])
    elif name == "fragment":
        side, text, data, fin = args
        a.variant(2, PAIR_OPS).variant(side, 2).boolean(text).vec_u8(data).boolean(fin)
    elif name == "fragments":
        side, text, pieces = args
        a.variant(3, PAIR_OPS).variant(side, 2).string(text).u8(pieces)
    elif name == "ping":
        a.variant(4, PAIR_OPS).variant(args[0], 2).vec_u8(args[1])
    elif name == "close":
        side, code, reason = args
        a.variant(5, PAIR_OPS).variant(side, 2).u16(code).string(reason)
    elif name == "advance":
        a.variant(6, PAIR_OPS).u16(args[0])
    elif name == "blackhole":
        a.variant(7, PAIR_OPS).variant(args[0], 2).boolean(args[1])
    else:
        raise ValueError(name)


def pair_seed(name, a, ops):
    for o in ops:
        pop(a, *o)
    write("pair", name, a.done())


pair_seed("hello_close", pair(), [
    ("send_text", C, "Hello"), ("send_binary", S, b"\x01\x02\x03"), ("advance", 50),
    ("close", C, 1000, "bye"), ("advance", 100)])
pair_seed("keepalive_blackhole", pair(latency=5, max_chunk=1, timers=((5, 100, 2000, 500, False), (10, 100, None, 500, True))), [
    ("blackhole", C, True), ("send_text", C, "lost?"), ("advance", 500), ("blackhole", C, False),
    ("send_text", S, "after"), ("advance", 300)])
pair_seed("fragments_ping_close", pair(max_chunk=7, seed=42, timers=((None, 1000, None, 200, True), (None, 1000, None, 200, False))), [
    ("fragments", S, "héllo wörld €", 4), ("fragment", C, True, b"frag", False),
    ("fragment", C, True, b"ment", True), ("ping", S, b"p"), ("advance", 30), ("close", S, 1001, "")])
pair_seed("middlebox_cut", pair(latency=20, middlebox=200), [("send_text", C, "hi"), ("advance", 1000)])
pair_seed("simultaneous_close", pair(latency=50, max_chunk=2), [
    ("send_text", C, "a"), ("send_text", S, "b"), ("close", C, 1000, ""), ("close", S, 4000, "x"),
    ("advance", 200)])


# --- handshake_request: [cfg, nsplit, splits..., bytes...] -------------------
RFC_REQUEST = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
               b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
               b"Sec-WebSocket-Version: 13\r\n\r\n")


def req(name, data, cfg=0, splits=b""):
    write("handshake_request", name, bytes([cfg, len(splits)]) + splits + data)


req("rfc_request", RFC_REQUEST)
req("rfc_request_select_chat", RFC_REQUEST, cfg=0x80)
req("rfc_request_then_frame", RFC_REQUEST + MASKED_HELLO, splits=bytes([5, 17, 1]))
req("rfc_request_bare_lf", RFC_REQUEST.replace(b"\r\n", b"\n"), splits=bytes([30]))
req("leading_empty_lines", b"\r\n\r\n" + RFC_REQUEST)
req("browser_like", b"GET /ws?room=1 HTTP/1.1\r\nHost: [::1]:9001\r\nConnection: keep-alive, Upgrade\r\n"
    b"Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nCookie: a=b\r\n\r\n", cfg=0x80)
req("bad_version_8", RFC_REQUEST.replace(b"Version: 13", b"Version: 8"))
req("bad_post", RFC_REQUEST.replace(b"GET", b"POST"))
req("bad_http10", RFC_REQUEST.replace(b"HTTP/1.1", b"HTTP/1.0"))
req("bad_duplicate_host", RFC_REQUEST.replace(b"Upgrade: websocket", b"Host: evil.example\r\nUpgrade: websocket"))
req("bad_key", RFC_REQUEST.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"dGhlIHNhbXBsZSBub25jZQ"))
req("too_many_headers", RFC_REQUEST, cfg=0x10)  # max_headers 2
req("too_large_head", RFC_REQUEST, cfg=0x03, splits=bytes([9]))  # max_head 64
req("timeout", RFC_REQUEST, cfg=0x40, splits=bytes([20]))

# --- handshake_response: [cfg, nsplit, splits..., bytes...] ------------------
RFC_RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n")


def resp(name, data, cfg=0, splits=b""):
    write("handshake_response", name, bytes([cfg, len(splits)]) + splits + data)


resp("rfc_response", RFC_RESPONSE)
resp("rfc_response_then_frame", RFC_RESPONSE + bytes.fromhex("810548656c6c6f"), splits=bytes([7, 1, 40]))
resp("no_protocol", RFC_RESPONSE.replace(b"Sec-WebSocket-Protocol: chat\r\n", b""))
resp("interim_100_then_101", b"HTTP/1.1 100 Continue\r\n\r\n" + RFC_RESPONSE, splits=bytes([3]))
resp("refused_403_with_body", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno")
resp("redirect_302", b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere.example/\r\n\r\n")
resp("bad_accept", RFC_RESPONSE.replace(b"s3pP", b"xxxx"))
resp("bad_upgrade", RFC_RESPONSE.replace(b"Upgrade: websocket", b"Upgrade: h2c"))
resp("bad_protocol", RFC_RESPONSE.replace(b"Protocol: chat", b"Protocol: other"))
resp("bad_extension", RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
resp("bad_http10", RFC_RESPONSE.replace(b"HTTP/1.1", b"HTTP/1.0"))
resp("too_large_head", RFC_RESPONSE, cfg=0x04, splits=bytes([11]))
resp("timeout", RFC_RESPONSE, cfg=0x40, splits=bytes([25]))

# Heads exactly at the limits (max_headers 8 = cfg 0x28, max_head_bytes 256 =
# cfg 0x05): accepted; one more field or byte is refused.
req("exact_header_limit", RFC_REQUEST.replace(b"\r\n\r\n", b"\r\nA: b\r\n\r\n"), cfg=0x28)
_pad = 256 - len(RFC_REQUEST) - len(b"X: \r\n")
req("exact_byte_limit", RFC_REQUEST.replace(b"\r\n\r\n", b"\r\nX: " + b"a" * _pad + b"\r\n\r\n"), cfg=0x05)
resp("exact_header_limit", RFC_RESPONSE, cfg=0x20)
_pad = 256 - len(RFC_RESPONSE) - len(b"X: \r\n")
resp("exact_byte_limit", RFC_RESPONSE.replace(b"\r\n\r\n", b"\r\nX: " + b"a" * _pad + b"\r\n\r\n"), cfg=0x05)

# permessage-deflate (cfg bit 6): RFC 7692 §7.2.3 vectors and a bomb.
import zlib


def deflate_raw(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


write("frame_decode", "deflate_rfc7692_hello", b"\x40\x00" + bytes.fromhex("c107f248cdc9c90700"))
write("frame_decode", "deflate_rfc7692_hello_fragmented",
      b"\x40\x01\x03" + bytes.fromhex("4103f248cd" "8004c9c90700"))
write("frame_decode", "deflate_rfc7692_stored_block", b"\x40\x00" + bytes.fromhex("c10b0005 00faff48656c6c6f00".replace(" ", "")))
write("frame_decode", "deflate_rfc7692_shared_window",
      b"\x40\x00" + bytes.fromhex("c107f248cdc9c90700" "c105f200110000"))
both("deflate_text", lambda k: frame(1, deflate_raw("héllo wörld € héllo wörld €".encode()), key=k, rsv=4),
     cfg=0x40, splits=bytes([3, 5]))
both("deflate_chunks", lambda k: frame(2, deflate_raw(bytes(range(256)) * 4), key=k, rsv=4), cfg=0xC0)
# 1 MiB of zeros in about a kilobyte, against a 64 KiB message limit.
both("deflate_bomb", lambda k: frame(2, deflate_raw(bytes(1 << 20)), key=k, rsv=4), cfg=0x70)
both("deflate_corrupt", lambda k: frame(1, b"\xff\xff\xff\xff", key=k, rsv=4), cfg=0x40)
both("deflate_rsv1_on_continuation", lambda k: frame(1, deflate_raw(b"ab"), fin=False, key=k, rsv=4)
     + frame(0, deflate_raw(b"cd"), key=k, rsv=4), cfg=0x40)

# permessage-deflate between the two: defaults (context takeover, 15 bits),
# and small windows without context takeover, with compressible traffic.
_text = "héllo héllo héllo €€"
pair_seed("deflate_default", pair(deflate=((7, 7, False, False, 6, 0), (7, 7, False, False, 6, 0))), [
    ("send_text", C, _text), ("send_text", C, _text), ("send_binary", S, bytes(10)),
    ("fragments", S, _text, 3), ("advance", 50), ("close", C, 1000, "bye"), ("advance", 100)])
pair_seed("deflate_small_windows", pair(max_chunk=5, deflate=((1, 0, True, True, 9, 4), (2, 3, False, True, 1, 0))), [
    ("send_text", C, _text), ("send_text", S, _text), ("fragment", C, True, b"aaaaaaaa", False),
    ("fragment", C, True, b"aaaaaaaa", True), ("advance", 50), ("close", S, 1001, ""), ("advance", 100)])
