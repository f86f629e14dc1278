"""Interop checks against the Python `websockets` library (asyncio API, >= 14).

One check per process; exit 0 on pass, else a one-line reason on stderr.

    py_peer.py client URL CHECK            websockets client -> our echo server
    py_peer.py ourclient CLIENT_BIN CHECK  our client -> a websockets server
    py_peer.py tokio TOKIO_CLIENT_BIN      tokio_client -> a restarting websockets server
    py_peer.py keepalive-raw URL           a raw client that never answers pings
    py_peer.py keepalive-paused URL LOG    a websockets client that stops reading
    py_peer.py keepalive-answered URL      a websockets client that keeps answering
    py_peer.py page URL                    plain HTTP GET / serves the diagnostics page

Compression is off (compression=None): these checks are about RFC 6455.
"""

import asyncio
import base64
import os
import re
import socket
import struct
import sys
import time
import urllib.request

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

T = 10  # seconds for any single wait inside a check
TCP_CLOSE_WAIT = 8  # tcpi_state in struct tcp_info (Linux)


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def short(value, n=60):
    r = repr(value)
    return r if len(r) <= n else r[:n] + f"... ({len(value)} long)"


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), T)


async def echo(ws, message, what):
    await ws.send(message)
    got = await recv(ws)
    expect(type(got) is type(message), f"{what}: sent {type(message).__name__}, got {type(got).__name__}")
    expect(got == message, f"{what}: sent {short(message)}, got {short(got)}")


# --- websockets client -> our echo server -------------------------------------

UNICODE = "héllo wörld ✓ ünïcödé 🦀 中文 Ελληνικά \u0000 \U0010ffff"


async def c_text(ws):
    await echo(ws, "hello", "text")
    await echo(ws, "a" * 200, "text 200 B (16-bit length)")


async def c_binary(ws):
    await echo(ws, bytes(range(256)) * 4, "binary")
    await echo(ws, bytes(70000), "binary 70000 B (64-bit length)")


async def c_empty(ws):
    await echo(ws, "", "empty text")
    await echo(ws, b"", "empty binary")


async def c_large(ws):
    await echo(ws, os.urandom(1 << 20), "1 MiB binary")
    await echo(ws, ("0123456789abcdef✓" * 70000)[: 1 << 20], "1 MiB text")


async def c_fragmented(ws):
    # An iterable sends one frame per item: a fragmented message.
    await ws.send(["frag", "mented ", "", "text ✓"])
    got = await recv(ws)
    expect(got == "fragmented text ✓", f"fragmented text: got {short(got)}")
    await ws.send([b"\x00\x01", b"\x02" * 1000, b"\xff"])
    got = await recv(ws)
    expect(got == b"\x00\x01" + b"\x02" * 1000 + b"\xff", f"fragmented binary: got {short(got)}")
    await echo(ws, "after fragments", "text after fragments")


async def c_ping(ws):
    for payload in (b"probe-1", b"", b"x" * 125):
        waiter = await ws.ping(payload)
        latency = await asyncio.wait_for(waiter, T)
        expect(latency >= 0, "ping: no pong")
    await echo(ws, "after pings", "text after pings")


async def c_close(ws):
    await echo(ws, "before close", "text")
    await asyncio.wait_for(ws.close(1000, "bye"), T)
    expect(ws.close_code == 1000, f"close: server answered code {ws.close_code}, want 1000")
    # The server closes TCP first (RFC 6455 7.1.1): the close completed without the timeout.
    expect(ws.protocol.close_rcvd is not None, "close: no close frame from the server")


async def c_close_app(ws):
    await asyncio.wait_for(ws.close(4321, "application reason ✓"), T)
    expect(ws.close_code == 4321, f"close 4321: server answered code {ws.close_code}")


async def c_unicode(ws):
    await echo(ws, UNICODE, "unicode text")
    await echo(ws, "✓" * 10000, "30000 B of 3-byte characters")


async def c_pipelined(ws):
    messages = [f"msg {i} " + "x" * (i * 37 % 3000) if i % 3 else os.urandom(i * 101 % 5000) for i in range(300)]
    for m in messages:
        await ws.send(m)
    for i, m in enumerate(messages):
        got = await recv(ws)
        expect(got == m, f"pipelined: message {i} out of order or changed: {short(got)}")


CLIENT_CHECKS = {
    "text": c_text,
    "binary": c_binary,
    "empty": c_empty,
    "large": c_large,
    "fragmented": c_fragmented,
    "ping": c_ping,
    "close": c_close,
    "close-app-code": c_close_app,
    "unicode": c_unicode,
    "pipelined": c_pipelined,
}


async def run_client(url, check):
    async with connect(url, compression=None, max_size=None, ping_interval=None, open_timeout=T, close_timeout=T) as ws:
        await CLIENT_CHECKS[check](ws)
        if ws.state.name == "OPEN":
            await asyncio.wait_for(ws.close(1000, "done"), T)
            expect(ws.close_code == 1000, f"final close: server answered {ws.close_code}")


# --- our client -> a websockets server -----------------------------------------

BIG = "L" * ((1 << 20) - 1) + "✓"  # 1 MiB + 2 bytes of UTF-8, one line


async def talk(proc, lines):
    """Writes `lines` to our client, waits for as many lines of output (the
    echoes), then closes its stdin so it closes with 1000. Without `lines`
    (push checks) stdin stays open and the server closes. Returns (stdout, stderr)."""
    out = b""
    if lines is not None:
        try:
            proc.stdin.write("".join(line + "\n" for line in lines).encode())
            await proc.stdin.drain()
        except ConnectionError:
            pass  # it died: its exit status tells
        for _ in lines:
            line = await proc.stdout.readline()
            if not line:
                break
            out += line
        proc.stdin.close()  # EOF: our client closes with 1000 "bye"
    rest, err, _ = await asyncio.gather(proc.stdout.read(), proc.stderr.read(), proc.wait())
    return out + rest, err


async def run_ourclient(client_bin, check):
    seen = {}  # what the server saw: close code and reason, pong
    done = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            path = ws.request.path
            if path == "/push-binary":
                await ws.send(bytes(range(250)) * 4)
                await ws.send(os.urandom(1 << 20))
                await ws.send(b"")
                await ws.close(1000, "push done")
            elif path == "/push-fragmented":
                await ws.send(["frag", "mented ✓", " text"])
                await ws.send([b"ab", b"cd", b"ef"])
                await ws.close(1001, "going away")
            elif path == "/server-ping":
                waiter = await ws.ping(b"server-probe")
                seen["pong"] = await asyncio.wait_for(waiter, T)
                await ws.send("pong ok")
                await ws.close(1000, "ping done")
            else:
                async for message in ws:
                    await ws.send(message)
            seen["code"], seen["reason"] = ws.close_code, ws.close_reason
        except Exception as e:  # noqa: BLE001 - reported by the check
            seen["error"] = repr(e)
        finally:
            if not done.done():
                done.set_result(None)

    async with serve(handler, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        path = {"text": "/echo", "unicode": "/echo", "large": "/echo", "close": "/echo"}.get(check, "/" + check)
        lines = {
            "text": ["hello", "world", ""],
            "unicode": [UNICODE.replace("\u0000", ""), "✓" * 5000],
            "large": [BIG],
            "close": ["last words"],
        }.get(check)
        proc = await asyncio.create_subprocess_exec(
            client_bin,
            f"ws://127.0.0.1:{port}{path}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=4 << 20,
        )
        try:
            out, err = await asyncio.wait_for(talk(proc, lines), T)
        except asyncio.TimeoutError:
            proc.kill()
            raise Fail(f"our client did not finish within {T} s")
        out = out.decode("utf-8", "replace").splitlines()
        err = err.decode("utf-8", "replace").strip()
        expect(proc.returncode == 0, f"our client exited {proc.returncode}: {err[-200:]}")
        try:
            await asyncio.wait_for(done, T)
        except asyncio.TimeoutError:
            raise Fail(f"the server saw no connection end within {T} s")
    expect("error" not in seen, f"server side: {seen.get('error')}")
    if lines is not None:
        expect(out == lines, f"echoes: sent {short(lines)}, printed {short(out)}")
        expect(seen.get("code") == 1000, f"server saw close code {seen.get('code')}, want 1000")
        if check == "close":
            expect(seen.get("reason") == "bye", f"server saw close reason {seen.get('reason')!r}")
    elif check == "push-binary":
        want = ["<1000 bytes of binary>", f"<{1 << 20} bytes of binary>", "<0 bytes of binary>"]
        expect(out == want, f"push-binary: printed {short(out)}")
        expect(seen.get("code") == 1000, f"server saw close code {seen.get('code')} back")
    elif check == "push-fragmented":
        expect(out == ["fragmented ✓ text", "<6 bytes of binary>"], f"push-fragmented: printed {short(out)}")
        expect(seen.get("code") == 1001, f"server saw close code {seen.get('code')} back, want 1001 echoed")
        expect("1001" in err, f"our client did not report 1001: {err[-200:]}")
    elif check == "server-ping":
        expect("pong" in seen, "no pong from our client")
        expect(out == ["pong ok"], f"server-ping: printed {short(out)}")


async def run_tokio(client_bin):
    """tokio_client -> a websockets server that restarts (1012) after 3 echoes:
    the client must reconnect and reach --count 6."""
    connections = []

    async def handler(ws):
        connections.append(ws.request.path)
        n = 0
        try:
            async for message in ws:
                await ws.send(message)
                n += 1
                if len(connections) == 1 and n == 3:
                    await ws.close(1012, "service restart")
        except websockets.ConnectionClosed:
            pass  # after our 1012, the client's messages in flight

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            client_bin,
            f"ws://127.0.0.1:{port}/tokio",
            "--count",
            "6",
            "--interval-ms",
            "50",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(talk(proc, None), 20)
        except asyncio.TimeoutError:
            proc.kill()
            raise Fail("tokio_client did not finish within 20 s")
    out = out.decode("utf-8", "replace").splitlines()
    err = err.decode("utf-8", "replace").strip()
    expect(proc.returncode == 0, f"tokio_client exited {proc.returncode}: {err[-200:]}")
    echoes = [line for line in out if line.startswith("echo: ")]
    expect(len(echoes) >= 6, f"tokio_client printed {len(echoes)} echoes, want 6: {short(out)}")
    expect(len(connections) == 2, f"{len(connections)} connections, want 2 (one reconnect after 1012)")
    expect("1012" in err, f"tokio_client did not report the 1012: {err[-200:]}")


# --- keepalive against our server -------------------------------------------------


def raw_handshake(url):
    m = re.match(r"ws://([^:/]+):(\d+)(/.*)?$", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3) or "/"
    sock = socket.create_connection((host, port), timeout=T)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        expect(chunk, "raw: EOF during the handshake")
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    expect(head.startswith(b"HTTP/1.1 101"), f"raw: handshake answered {head[:40]!r}")
    return sock, rest


def keepalive_raw(url):
    """Connects, reads every frame, never answers a ping: the server must give up."""
    start = time.monotonic()
    sock, buf = raw_handshake(url)
    pings, close_code, ended = 0, None, None
    while ended is None:
        while len(buf) >= 2:
            b1, b2 = buf[0], buf[1]
            n, off = b2 & 0x7F, 2
            if n == 126:
                n, off = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                n, off = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < off + n:
                break
            payload, buf = buf[off : off + n], buf[off + n :]
            opcode = b1 & 0x0F
            if opcode == 0x9:
                pings += 1  # and no pong: we stopped answering
            elif opcode == 0x8:
                close_code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise Fail(f"raw: connection still open after {T} s")
        if not chunk:
            ended = time.monotonic() - start
        buf += chunk
    sock.close()
    expect(pings >= 1, "raw: the server never pinged")
    expect(close_code in (1011, None), f"raw: closed with {close_code}, want 1011 (or EOF)")
    expect(0.9 <= ended <= 3.0, f"raw: connection ended after {ended:.2f} s, want 0.9-3 s")
    print(f"keepalive-raw: {pings} ping(s) unanswered, close {close_code}, ended after {ended:.2f} s")


async def keepalive_paused(url, log):
    """A real websockets client whose transport stops reading (so it cannot pong).

    While it does not read, the kernel tells when the server gave up: our socket
    goes to CLOSE_WAIT when the server's FIN (after its 1011 close frame) arrives.
    """
    start = time.monotonic()
    async with connect(url, compression=None, ping_interval=None, close_timeout=T) as ws:
        port = ws.local_address[1]
        ws.transport.pause_reading()
        sock = ws.transport.get_extra_info("socket")
        ended = None
        while ended is None and time.monotonic() - start < 5:
            await asyncio.sleep(0.02)
            if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == TCP_CLOSE_WAIT:
                ended = time.monotonic() - start
        ws.transport.resume_reading()
        expect(ended is not None, "paused: the server did not close within 5 s")
        try:
            await asyncio.wait_for(ws.recv(), T)
            raise Fail("paused: got a message, want the close")
        except websockets.ConnectionClosed:
            pass
        code = ws.close_code
    expect(0.9 <= ended <= 3.0, f"paused: server closed after {ended:.2f} s, want 0.9-3 s")
    expect(code == 1011, f"paused: the client saw close code {code}, want 1011")
    line, deadline = None, time.monotonic() + 5
    while line is None and time.monotonic() < deadline:
        with open(log, encoding="utf-8", errors="replace") as f:
            line = next((ln for ln in f if f"peer=127.0.0.1:{port} " in ln), None)
        await asyncio.sleep(0.05)
    expect(line is not None, "paused: no server log line for this connection")
    expect("cause=PingTimeout" in line, f"paused: server log: {line.strip()}")
    print(f"keepalive-paused: server closed after {ended:.2f} s, client saw {code}")


async def keepalive_answered(url):
    """websockets answers the server's pings itself: the connection must survive."""
    async with connect(url, compression=None, ping_interval=None, close_timeout=T) as ws:
        await asyncio.sleep(2.5)  # five ping intervals of 500 ms
        await echo(ws, "still here", "after 2.5 s of answered pings")
        await ws.close(1000, "bye")
        expect(ws.close_code == 1000, f"answered: close code {ws.close_code}")


def page(url):
    with urllib.request.urlopen(url, timeout=T) as r:
        body = r.read().decode()
        ctype = r.headers.get("Content-Type", "")
        expect(r.status == 200, f"page: status {r.status}")
        expect(ctype.startswith("text/html"), f"page: Content-Type {ctype!r}")
        expect(int(r.headers.get("Content-Length", -1)) == len(body.encode()), "page: Content-Length mismatch")
        expect("new WebSocket(" in body and 'id="result"' in body, "page: not the diagnostics page")
    try:
        urllib.request.urlopen(url.rstrip("/") + "/nope", timeout=T)
        raise Fail("page: GET /nope was not refused")
    except urllib.error.HTTPError as e:
        expect(e.code == 400, f"page: GET /nope answered {e.code}, want 400")


def main():
    mode, *args = sys.argv[1:]
    try:
        if mode == "client":
            asyncio.run(run_client(args[0], args[1]))
        elif mode == "ourclient":
            asyncio.run(run_ourclient(args[0], args[1]))
        elif mode == "tokio":
            asyncio.run(run_tokio(args[0]))
        elif mode == "keepalive-raw":
            keepalive_raw(args[0])
        elif mode == "keepalive-paused":
            asyncio.run(keepalive_paused(args[0], args[1]))
        elif mode == "keepalive-answered":
            asyncio.run(keepalive_answered(args[0]))
        elif mode == "page":
            page(args[0])
        else:
            raise Fail(f"unknown mode {mode}")
    except Fail as e:
        print(e, file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - any other failure is a failed check
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
