// Interop checks against the Node `ws` library (NODE_PATH must reach it).
//
// One check per process; exit 0 on pass, else a one-line reason on stderr.
//
//   node node_peer.js client URL CHECK            ws client -> our echo server
//   node node_peer.js ourclient CLIENT_BIN CHECK  our client -> a ws server
//   node node_peer.js tokio TOKIO_CLIENT_BIN      tokio_client -> a restarting ws server
//
// perMessageDeflate is off: these checks are about RFC 6455.
"use strict";

const { spawn } = require("child_process");
const crypto = require("crypto");
const WebSocket = require("ws");

const T = 10000; // ms for any single wait inside a check

class Fail extends Error {}

function expect(cond, what) {
  if (!cond) throw new Fail(what);
}

function short(v) {
  const s = Buffer.isBuffer(v) ? `<${v.length} bytes>` : JSON.stringify(v);
  return s.length <= 60 ? s : `${s.slice(0, 60)}... (${s.length} long)`;
}

function within(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Fail(`${what}: nothing within ${T} ms`)), T);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// A client whose messages, pongs and close arrive through promises.
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20 });
    const queue = [];
    const waiting = [];
    ws.on("message", (data, isBinary) => {
      const m = { data, isBinary };
      if (waiting.length) waiting.shift()(m);
      else queue.push(m);
    });
    ws.closed = new Promise((res) => ws.on("close", (code, reason) => res({ code, reason: reason.toString() })));
    ws.next = (what) =>
      within(new Promise((res) => (queue.length ? res(queue.shift()) : waiting.push(res))), what);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function sendAsync(ws, data, options = {}) {
  return new Promise((resolve, reject) => ws.send(data, options, (e) => (e ? reject(e) : resolve())));
}

async function echo(ws, data, what) {
  const binary = Buffer.isBuffer(data);
  await sendAsync(ws, data, { binary });
  const m = await ws.next(what);
  expect(m.isBinary === binary, `${what}: sent ${binary ? "binary" : "text"}, got ${m.isBinary ? "binary" : "text"}`);
  const got = binary ? m.data : m.data.toString("utf8");
  const same = binary ? got.equals(data) : got === data;
  expect(same, `${what}: sent ${short(data)}, got ${short(got)}`);
}

const UNICODE = "héllo wörld ✓ ünïcödé 🦀 中文 Ελληνικά \u0000 \u{10ffff}";

const clientChecks = {
  async text(ws) {
    await echo(ws, "hello", "text");
    await echo(ws, "a".repeat(200), "text 200 B (16-bit length)");
  },
  async binary(ws) {
    await echo(ws, Buffer.from([...Array(1024).keys()].map((i) => i & 255)), "binary");
    await echo(ws, Buffer.alloc(70000, 7), "binary 70000 B (64-bit length)");
  },
  async empty(ws) {
    await echo(ws, "", "empty text");
    await echo(ws, Buffer.alloc(0), "empty binary");
  },
  async large(ws) {
    await echo(ws, crypto.randomBytes(1 << 20), "1 MiB binary");
    await echo(ws, "0123456789abcdef".repeat(1 << 16), "1 MiB text");
  },
  async fragmented(ws) {
    // "✓" is E2 9C 93: split it across frames, the UTF-8 check must stream.
    const text = Buffer.from("fragmented ✓ text");
    const cut = text.indexOf(0x9c);
    ws.send(text.subarray(0, cut), { binary: false, fin: false });
    ws.send(Buffer.alloc(0), { binary: false, fin: false });
    ws.send(text.subarray(cut), { binary: false, fin: true });
    let m = await ws.next("fragmented text");
    expect(!m.isBinary && m.data.toString() === "fragmented ✓ text", `fragmented text: got ${short(m.data.toString())}`);
    ws.send(Buffer.from([0, 1]), { binary: true, fin: false });
    ws.ping(Buffer.from("between fragments")); // a control frame inside a fragmented message
    ws.send(Buffer.alloc(1000, 2), { binary: true, fin: false });
    ws.send(Buffer.from([255]), { binary: true, fin: true });
    m = await ws.next("fragmented binary");
    const want = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(1000, 2), Buffer.from([255])]);
    expect(m.isBinary && m.data.equals(want), `fragmented binary: got ${short(m.data)}`);
    await echo(ws, "after fragments", "text after fragments");
  },
  async ping(ws) {
    for (const payload of ["probe-1", "", "x".repeat(125)]) {
      const pong = within(new Promise((res) => ws.once("pong", res)), `pong for ${short(payload)}`);
      ws.ping(Buffer.from(payload));
      const got = await pong;
      expect(got.toString() === payload, `ping ${short(payload)}: pong carried ${short(got.toString())}`);
    }
    await echo(ws, "after pings", "text after pings");
  },
  async close(ws) {
    await echo(ws, "before close", "text");
    ws.close(1000, "bye");
    const { code } = await within(ws.closed, "close");
    expect(code === 1000, `close: server answered code ${code}, want 1000`);
  },
  async "close-app-code"(ws) {
    ws.close(4321, "application reason ✓");
    const { code } = await within(ws.closed, "close 4321");
    expect(code === 4321, `close 4321: server answered code ${code}`);
  },
  async unicode(ws) {
    await echo(ws, UNICODE, "unicode text");
    await echo(ws, "✓".repeat(10000), "30000 B of 3-byte characters");
  },
  async pipelined(ws) {
    const messages = [];
    for (let i = 0; i < 300; i++) {
      messages.push(i % 3 ? `msg ${i} ` + "x".repeat((i * 37) % 3000) : crypto.randomBytes((i * 101) % 5000));
    }
    for (const m of messages) ws.send(m, { binary: Buffer.isBuffer(m) });
    for (let i = 0; i < messages.length; i++) {
      const m = await ws.next(`pipelined message ${i}`);
      const want = messages[i];
      const same = Buffer.isBuffer(want) ? m.isBinary && m.data.equals(want) : !m.isBinary && m.data.toString() === want;
      expect(same, `pipelined: message ${i} out of order or changed`);
    }
  },
};

async function runClient(url, check) {
  const ws = await within(open(url), "connect");
  await clientChecks[check](ws);
  if (ws.readyState === WebSocket.OPEN) {
    ws.close(1000, "done");
    const { code } = await within(ws.closed, "final close");
    expect(code === 1000, `final close: server answered ${code}`);
  }
}

// --- our client -> a ws server ----------------------------------------------------

const BIG = "L".repeat((1 << 20) - 1) + "✓";

async function runOurClient(clientBin, check) {
  const seen = {};
  let serverDone;
  const done = new Promise((res) => (serverDone = res));
  const wss = new WebSocket.Server({ host: "127.0.0.1", port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  wss.on("connection", (ws, req) => {
    ws.on("close", (code, reason) => {
      seen.code = code;
      seen.reason = reason.toString();
      serverDone();
    });
    ws.on("error", (e) => (seen.error = String(e)));
    if (req.url === "/push-binary") {
      ws.send(Buffer.alloc(1000, 9));
      ws.send(crypto.randomBytes(1 << 20));
      ws.send(Buffer.alloc(0));
      ws.close(1000, "push done");
    } else if (req.url === "/push-fragmented") {
      const text = Buffer.from("fragmented ✓ text");
      const cut = text.indexOf(0x9c); // inside the 3-byte "✓"
      ws.send(text.subarray(0, cut), { binary: false, fin: false });
      ws.send(text.subarray(cut), { binary: false, fin: true });
      ws.send(Buffer.from("ab"), { binary: true, fin: false });
      ws.send(Buffer.from("cd"), { binary: true, fin: false });
      ws.send(Buffer.from("ef"), { binary: true, fin: true });
      ws.close(1001, "going away");
    } else if (req.url === "/server-ping") {
      ws.once("pong", (data) => {
        seen.pong = data.toString();
        ws.send("pong ok");
        ws.close(1000, "ping done");
      });
      ws.ping(Buffer.from("server-probe"));
    } else {
      ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
    }
  });
  await within(new Promise((res) => wss.once("listening", res)), "listen");
  const port = wss.address().port;
  const path = ["text", "unicode", "large", "close"].includes(check) ? "/echo" : `/${check}`;
  const lines = {
    text: ["hello", "world", ""],
    unicode: [UNICODE.replace("\u0000", ""), "✓".repeat(5000)],
    large: [BIG],
    close: ["last words"],
  }[check];

  const proc = spawn(clientBin, [`ws://127.0.0.1:${port}${path}`], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdin.on("error", () => {}); // EPIPE if it died: its exit status tells
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => (err += d));
  const exited = new Promise((res) => proc.on("exit", (code) => res(code)));
  const stdoutEnded = new Promise((res) => proc.stdout.on("end", res));
  proc.stdout.on("data", (d) => {
    out += d;
    // Once every echo is printed, EOF on stdin: our client closes with 1000.
    if (lines && out.split("\n").length > lines.length) proc.stdin.end();
  });
  if (lines) proc.stdin.write(lines.map((l) => l + "\n").join(""));
  // Push checks keep stdin open: the server closes.
  let code;
  try {
    code = await within(exited, "our client exit");
    await within(stdoutEnded, "our client output");
    expect(code === 0, `our client exited ${code}: ${err.trim().slice(-200)}`);
    await within(done, "server close");
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  } finally {
    wss.close();
  }
  const printed = out.split("\n").slice(0, -1);
  expect(!seen.error, `server side: ${seen.error}`);
  expect(code === 0, `our client exited ${code}: ${err.trim().slice(-200)}`);
  if (lines) {
    expect(JSON.stringify(printed) === JSON.stringify(lines), `echoes: sent ${short(lines)}, printed ${short(printed)}`);
    expect(seen.code === 1000, `server saw close code ${seen.code}, want 1000`);
    if (check === "close") expect(seen.reason === "bye", `server saw close reason ${short(seen.reason)}`);
  } else if (check === "push-binary") {
    const want = ["<1000 bytes of binary>", `<${1 << 20} bytes of binary>`, "<0 bytes of binary>"];
    expect(JSON.stringify(printed) === JSON.stringify(want), `push-binary: printed ${short(printed)}`);
    expect(seen.code === 1000, `server saw close code ${seen.code} back`);
  } else if (check === "push-fragmented") {
    const want = ["fragmented ✓ text", "<6 bytes of binary>"];
    expect(JSON.stringify(printed) === JSON.stringify(want), `push-fragmented: printed ${short(printed)}`);
    expect(seen.code === 1001, `server saw close code ${seen.code} back, want 1001 echoed`);
    expect(err.includes("1001"), `our client did not report 1001: ${err.trim().slice(-200)}`);
  } else if (check === "server-ping") {
    expect(seen.pong === "server-probe", `pong payload ${short(seen.pong)}, want "server-probe"`);
    expect(JSON.stringify(printed) === JSON.stringify(["pong ok"]), `server-ping: printed ${short(printed)}`);
  } else {
    throw new Fail(`unknown check ${check}`);
  }
}

// tokio_client -> a ws server that restarts (1012) after 3 echoes: the client
// must reconnect and reach --count 6.
async function runTokio(clientBin) {
  let connections = 0;
  const wss = new WebSocket.Server({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("connection", (ws) => {
    const nth = ++connections;
    let n = 0;
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(data, { binary: isBinary });
      if (nth === 1 && ++n === 3) ws.close(1012, "service restart");
    });
  });
  await within(new Promise((res) => wss.once("listening", res)), "listen");
  const url = `ws://127.0.0.1:${wss.address().port}/tokio`;
  const proc = spawn(clientBin, [url, "--count", "6", "--interval-ms", "50"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  let code;
  try {
    code = await within(new Promise((res) => proc.on("close", res)), "tokio_client exit");
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  } finally {
    wss.close();
  }
  const echoes = out.split("\n").filter((l) => l.startsWith("echo: "));
  expect(code === 0, `tokio_client exited ${code}: ${err.trim().slice(-200)}`);
  expect(echoes.length >= 6, `tokio_client printed ${echoes.length} echoes, want 6`);
  expect(connections === 2, `${connections} connections, want 2 (one reconnect after 1012)`);
  expect(err.includes("1012"), `tokio_client did not report the 1012: ${err.trim().slice(-200)}`);
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === "client") await runClient(args[0], args[1]);
  else if (mode === "ourclient") await runOurClient(args[0], args[1]);
  else if (mode === "tokio") await runTokio(args[0]);
  else throw new Fail(`unknown mode ${mode}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Fail ? e.message : `${e.name}: ${e.message}`);
    process.exit(1);
  },
);
