// The load client of bench/cluster_bench.py (Node, one process, pinned to
// the client CPU): RECEIVERS connections spread evenly over the server URLs
// given, plus one sender on the first. The sender first sends sync messages
// until every receiver has heard one (all are in the room, on every
// process), then MESSAGES messages of SIZE bytes, each carrying its send
// time (the client's own clock), at RATE per second (0: back to back).
// Every receiver checks it gets each message once, in order. Prints one
// JSON object: deliveries/s over the fan-out, publish-to-delivery latency
// percentiles, losses.
//
//   node load.js --kind squall|sio --urls ws://127.0.0.1:1/ws/chat,ws://... \
//        --receivers 1000 --messages 200 --size 64 --rate 0
"use strict";
const WebSocket = require("ws");
const { io } = require("socket.io-client");

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const kind = args.kind || "squall";
const urls = (args.urls || "").split(",").filter(Boolean);
const receivers = Number(args.receivers || 1000);
const messages = Number(args.messages || 200);
const size = Number(args.size || 64);
const rate = Number(args.rate || 0);
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

// One connection, the same interface whatever the kind: send(text), onText(fn).
function open(url) {
  return new Promise((resolve, reject) => {
    if (kind === "sio") {
      const u = new URL(url);
      const s = io(`http://${u.host}`, { transports: ["websocket"], reconnection: false, forceNew: true });
      const c = { send: (t) => s.emit("chat", t), onText: (fn) => s.on("chat", fn), close: () => s.close() };
      s.on("connect", () => resolve(c));
      s.on("connect_error", reject);
    } else {
      const w = new WebSocket(url, { perMessageDeflate: false });
      const c = { send: (t) => w.send(t), onText: (fn) => w.on("message", (d) => fn(d.toString())), close: () => w.close() };
      w.on("open", () => resolve(c));
      w.on("error", reject);
    }
  });
}

async function main() {
  const conns = [];
  for (let i = 0; i < receivers; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(receivers, i + 50); j++) batch.push(open(urls[j % urls.length]));
    conns.push(...await Promise.all(batch));
  }
  const sender = await open(urls[0]);
  const got = new Array(receivers).fill(0);
  const synced = new Array(receivers).fill(false);
  const lat = [];
  let errors = 0, syncedN = 0, doneN = 0, t0 = 0, tEnd = 0;
  let resolveDone, resolveSync;
  const done = new Promise((r) => { resolveDone = r; });
  const sync = new Promise((r) => { resolveSync = r; });
  conns.forEach((c, i) => c.onText((text) => {
    const sep = text.indexOf(" ");
    const head = text.slice(0, sep);
    if (head === "sync") {
      if (!synced[i]) { synced[i] = true; if (++syncedN === receivers) resolveSync(); }
      return;
    }
    const seq = Number(head);
    const sent = Number(text.slice(sep + 1, text.indexOf(" ", sep + 1)));
    if (seq !== got[i]) errors++;
    got[i] = seq + 1;
    if ((i & 7) === 0) lat.push(now() - sent); // a sample: one receiver in 8
    if (got[i] === messages) { if (++doneN === receivers) { tEnd = now(); resolveDone(); } }
  }));
  const syncTimer = setInterval(() => sender.send("sync x"), 200);
  sender.send("sync x");
  await Promise.race([sync, new Promise((_, rej) => setTimeout(() => rej(new Error(`only ${syncedN} of ${receivers} synced`)), 30000))]);
  clearInterval(syncTimer);
  await new Promise((r) => setTimeout(r, 300)); // late sync copies drain
  const pad = "x".repeat(Math.max(0, size - 32));
  t0 = now();
  for (let k = 0; k < messages; k++) {
    sender.send(`${k} ${now().toFixed(3)} ${pad}`);
    if (rate > 0) {
      const next = t0 + (k + 1) * 1000 / rate;
      const wait = next - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } else if ((k & 15) === 15) {
      await new Promise((r) => setImmediate(r)); // let the socket write
    }
  }
  const timeout = setTimeout(() => { tEnd = now(); resolveDone(); }, 60000);
  await done;
  clearTimeout(timeout);
  lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p / 100 * lat.length))] : null;
  const delivered = got.reduce((a, b) => a + b, 0);
  const secs = (tEnd - t0) / 1000;
  console.log(JSON.stringify({
    kind, receivers, messages, size, rate, urls: urls.length,
    delivered, expected: receivers * messages, order_errors: errors,
    seconds: secs, deliveries_per_s: delivered / secs,
    p50_ms: pct(50), p99_ms: pct(99), max_ms: lat.length ? lat[lat.length - 1] : null,
  }));
  for (const c of conns) c.close();
  sender.close();
  setTimeout(() => process.exit(0), 200);
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
