// The Socket.IO anchor of bench/cluster_bench.py: a chat room across
// processes the way Socket.IO does it, with @socket.io/redis-adapter.
// Every "chat" event a client sends is emitted to every socket of every
// process joined to the same Redis (sender included), like squall's
// /ws/chat with SQUALL_CLUSTER.
//
//   PORT=18501 REDIS_URL=redis://127.0.0.1:6390 node sio_server.js
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.env.PORT || 18501);
  const httpServer = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end("Hello, world");
  });
  const io = new Server(httpServer, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
  if (process.env.REDIS_URL) {
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  io.on("connection", (socket) => {
    socket.on("chat", (msg) => io.emit("chat", msg));
  });
  httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io on ${port}`));
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((e) => { console.error(e); process.exit(1); });
