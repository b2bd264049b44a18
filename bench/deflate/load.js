// The load client of bench/deflate_bench.py (Node, one process, pinned to
// the client CPU): a thin WebSocket client over `net` that offers
// permessage-deflate or not, so that the servers' cost is measured and not
// a client library's. It inflates what it must check and counts the rest.
//
// The offer, when --deflate 1, is
//   permessage-deflate; server_no_context_takeover; client_no_context_takeover
// so every server compresses each message on its own (squall's shared mode,
// uWS's SHARED_COMPRESSOR) and the client inflates each with inflateRawSync.
//
// Modes (one JSON object printed at the end):
//   broadcast: RECEIVERS connections and one sender on a chat route (every
//     message goes to every connection). The sender sends sync messages until
//     every receiver heard one, then MESSAGES chat-like JSON messages of about
//     SIZE bytes back to back. One receiver in 32 inflates and checks every
//     message (content and order); the others count frames (Node's inflate
//     costs the client more than squall's deflate costs the server: checking
//     every receiver would measure the client). Reports
//     deliveries/s over the fan-out and the bytes the receivers read per
//     delivery (the wire, frame headers included).
//   echo: CONNS connections on an echo route, one message outstanding on
//     each, for SECONDS: messages/s, round trip p50/p99; every reply is
//     inflated and compared with what was sent.
//   idle: CONNS connections opened (upgrade done, the extension agreed or
//     not), then "ready" on stdout; they stay until stdin closes.
//
//   node load.js --mode broadcast --url ws://127.0.0.1:P/ws/chat --deflate 1 \
//        --receivers 1000 --messages 200 --size 1024
"use strict";
const net = require("net");
const zlib = require("zlib");
const crypto = require("crypto");

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const mode = args.mode || "broadcast";
const url = new URL(args.url || "ws://127.0.0.1:18500/ws/chat");
const deflate = args.deflate === "1";
const receivers = Number(args.receivers || 1000);
const messages = Number(args.messages || 200);
const size = Number(args.size || 1024);
const conns = Number(args.conns || 50);
const seconds = Number(args.seconds || 8);
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);

// Chat-like JSON of about `size` bytes: words from a small vocabulary, as
// people write, so that it compresses the way chat traffic does (not the
// way a run of one letter does).
const WORDS = ("the a to of and in is it you that for on we this with be are have not but at what so " +
  "can all if do just about one time like there was will your our my me up out get new message room " +
  "server deploy tonight release tomorrow morning build failed passed review thanks sure sounds good " +
  "latency memory socket connection topic publish subscriber chat hello world squall compression").split(" ");
function rng(seed) { let s = seed >>> 0; return () => (s = (s * 1664525 + 1013904223) >>> 0) / 4294967296; }
function chat(seq, rand) {
  const head = { type: "message", id: seq, from: "user-" + Math.floor(rand() * 900 + 100), room: "general",
    time: 1765000000 + seq, body: "" };
  const base = JSON.stringify(head).length;
  const words = [];
  let len = 0;
  while (base + len < size) { const w = WORDS[Math.floor(rand() * WORDS.length)]; words.push(w); len += w.length + 1; }
  head.body = words.join(" ");
  return JSON.stringify(head);
}

// A client frame (FIN, masked with a zero key: the payload goes as it is).
function frame(payload, opcode, rsv1) {
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(6) : n < 65536 ? Buffer.alloc(8) : Buffer.alloc(14);
  head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (n < 126) { head[1] = 0x80 | n; }
  else if (n < 65536) { head[1] = 0x80 | 126; head.writeUInt16BE(n, 2); }
  else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, payload]);
}
function textFrame(text) {
  const raw = Buffer.from(text);
  if (!deflate) return frame(raw, 1, false);
  // sync-flushed, as browsers send (no final block: a peer keeping its
  // inflater for the next message, as Tornado does, needs the stream open)
  const z = zlib.deflateRawSync(raw, { level: 6, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  // a sync flush's tail is left off (RFC 7692 §7.2.1); a final block has none
  const body = z.length >= 4 && z.subarray(z.length - 4).equals(TAIL) ? z.subarray(0, z.length - 4) : z;
  return frame(body, 1, true);
}
// Inflates one message: on its own when the server agreed to
// server_no_context_takeover, else through the connection's inflater, whose
// window carries over (Tornado ignores the parameter: it keeps its context).
function inflate(c, payload) {
  const data = Buffer.concat([payload, TAIL]);
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  if (!c.takeover) return zlib.inflateRawSync(data, opts).toString();
  // the window carried over is the last 32 KiB inflated: a dictionary
  if (c.window && c.window.length) opts.dictionary = c.window;
  const out = zlib.inflateRawSync(data, opts);
  const w = c.window ? Buffer.concat([c.window, out]) : out;
  c.window = w.length > 32768 ? w.subarray(w.length - 32768) : w;
  return out.toString();
}

// One connection: the upgrade, then frames handed to onMessage(payload,
// rsv1) (data messages, unfragmented as these servers send them). Counts
// the bytes read.
function open(onMessage) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: url.hostname, port: Number(url.port) });
    sock.setNoDelay(true);
    const key = crypto.randomBytes(16).toString("base64");
    const c = { sock, bytes: 0, extensions: "", onMessage };
    let buf = Buffer.alloc(0), upgraded = false;
    sock.on("connect", () => {
      sock.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + `Sec-WebSocket-Key: ${key}\r\n` +
        (deflate ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n" : "") +
        "\r\n");
    });
    sock.on("error", (e) => (upgraded ? null : reject(e)));
    sock.on("data", (d) => {
      c.bytes += d.length;
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        if (!head.startsWith("HTTP/1.1 101")) { reject(new Error("no upgrade: " + head.split("\r\n")[0])); sock.destroy(); return; }
        const ext = head.split("\r\n").find((l) => l.toLowerCase().startsWith("sec-websocket-extensions:"));
        c.extensions = ext ? ext.slice(ext.indexOf(":") + 1).trim() : "";
        c.takeover = c.extensions.startsWith("permessage-deflate") && !c.extensions.includes("server_no_context_takeover");
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve(c);
      }
      let off = 0;
      while (buf.length - off >= 2) {
        const b0 = buf[off], b1 = buf[off + 1];
        let n = b1 & 0x7f, hl = 2;
        if (n === 126) { if (buf.length - off < 4) break; n = buf.readUInt16BE(off + 2); hl = 4; }
        else if (n === 127) { if (buf.length - off < 10) break; n = Number(buf.readBigUInt64BE(off + 2)); hl = 10; }
        if (buf.length - off < hl + n) break;
        const opcode = b0 & 0x0f;
        if (opcode === 1 || opcode === 2) c.onMessage(c, buf.subarray(off + hl, off + hl + n), (b0 & 0x40) !== 0);
        else if (opcode === 8) sock.end();
        off += hl + n;
      }
      buf = off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
    });
  });
}

async function openMany(n, make) {
  const out = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) batch.push(open(make(j)));
    out.push(...await Promise.all(batch));
  }
  return out;
}

function text(c, payload, rsv1) { return rsv1 ? inflate(c, payload) : payload.toString(); }

async function broadcast() {
  const got = new Array(receivers).fill(0);
  const synced = new Array(receivers).fill(false);
  let errors = 0, syncedN = 0, doneN = 0, measuring = false, tEnd = 0, resolveDone, resolveSync;
  const done = new Promise((r) => { resolveDone = r; });
  const sync = new Promise((r) => { resolveSync = r; });
  const rs = await openMany(receivers, (i) => (c, payload, rsv1) => {
    if (!measuring) {
      if (text(c, payload, rsv1).startsWith("sync") && !synced[i]) { synced[i] = true; if (++syncedN === receivers) resolveSync(); }
      return;
    }
    if ((i & 31) === 0) {
      const t = text(c, payload, rsv1);
      if (t.startsWith("sync")) return;
      const m = JSON.parse(t);
      if (m.id !== got[i] || t !== expected[m.id]) errors++;
    } else if (payload.length < 16) {
      return; // a late sync copy (uncompressed or not, far shorter than a message)
    }
    if (++got[i] === messages && ++doneN === receivers) { tEnd = now(); resolveDone(); }
  });
  const sender = await open(() => {});
  const rand = rng(7);
  const expected = Array.from({ length: messages }, (_, k) => chat(k, rand));
  const frames = expected.map(textFrame);
  const syncFrame = frame(Buffer.from("sync"), 1, false);
  const timer = setInterval(() => sender.sock.write(syncFrame), 200);
  sender.sock.write(syncFrame);
  await Promise.race([sync, new Promise((_, rej) => setTimeout(() => rej(new Error(`only ${syncedN} of ${receivers} synced`)), 30000))]);
  clearInterval(timer);
  await new Promise((r) => setTimeout(r, 300)); // late sync copies drain
  const bytes0 = rs.reduce((a, c) => a + c.bytes, 0);
  measuring = true;
  const t0 = now();
  const cpu0 = process.cpuUsage();
  for (let k = 0; k < messages; k++) {
    sender.sock.write(frames[k]);
    if ((k & 15) === 15) await new Promise((r) => setImmediate(r));
  }
  const timeout = setTimeout(() => { tEnd = now(); resolveDone(); }, 60000);
  await done;
  clearTimeout(timeout);
  const cpu = process.cpuUsage(cpu0);
  const delivered = got.reduce((a, b) => a + b, 0);
  const wire = rs.reduce((a, c) => a + c.bytes, 0) - bytes0;
  const secs = (tEnd - t0) / 1000;
  const raw = expected.reduce((a, t) => a + Buffer.byteLength(t), 0) / messages;
  return {
    mode, deflate, extensions: rs[0].extensions, receivers, messages, message_bytes: raw,
    delivered, expected: receivers * messages, order_errors: errors, seconds: secs,
    deliveries_per_s: delivered / secs, wire_bytes_per_delivery: delivered ? wire / delivered : null,
    // the client's own CPU over the fan-out (near 1: the client is the limit)
    client_cpu_share: (cpu.user + cpu.system) / 1e6 / secs,
    ok: delivered === receivers * messages && errors === 0,
  };
}

async function echo() {
  const rand = rng(11);
  const texts = Array.from({ length: 64 }, (_, k) => chat(k, rand));
  const frames = texts.map(textFrame);
  const rtt = [];
  let count = 0, errors = 0, running = true;
  const state = [];
  const cs = await openMany(conns, (i) => (c, payload, rsv1) => {
    const s = state[i];
    if (text(c, payload, rsv1) !== texts[s.k]) errors++;
    if (s.measure) { rtt.push(now() - s.t); count++; }
    if (running) send(i);
  });
  function send(i) {
    const s = state[i];
    s.k = (s.k + 1) & 63; s.t = now(); s.measure = measuring;
    cs[i].sock.write(frames[s.k]);
  }
  let measuring = false;
  for (let i = 0; i < conns; i++) { state.push({ k: i & 63, t: 0, measure: false }); send(i); }
  await new Promise((r) => setTimeout(r, 2000)); // warm-up
  measuring = true;
  const t0 = now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const secs = (now() - t0) / 1000;
  running = false;
  measuring = false;
  rtt.sort((a, b) => a - b);
  const pct = (p) => rtt.length ? rtt[Math.min(rtt.length - 1, Math.floor(p / 100 * rtt.length))] : null;
  return {
    mode, deflate, extensions: cs[0].extensions, conns, message_bytes: texts.reduce((a, t) => a + t.length, 0) / 64,
    messages: count, seconds: secs, msgs_per_s: count / secs, p50_ms: pct(50), p99_ms: pct(99),
    mismatches: errors, ok: errors === 0 && count > 0,
  };
}

async function idle() {
  const cs = await openMany(conns, () => () => {});
  const agreed = cs.filter((c) => c.extensions.startsWith("permessage-deflate")).length;
  process.stdout.write(JSON.stringify({ mode, deflate, conns: cs.length, agreed, extensions: cs[0].extensions }) + "\n");
  process.stdin.resume();
  await new Promise((r) => process.stdin.on("end", r));
  for (const c of cs) c.sock.destroy();
  return null;
}

const run = { broadcast, echo, idle }[mode];
run().then((r) => {
  if (r) process.stdout.write(JSON.stringify(r) + "\n");
  setTimeout(() => process.exit(0), 100);
}).catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
