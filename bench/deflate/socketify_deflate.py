"""socketify.py (uWebSockets) with permessage-deflate: /ws/echo and /ws/chat
(uWS's native pub/sub), SHARED_COMPRESSOR and SHARED_DECOMPRESSOR, the mode
uWS recommends for many sockets. The anchor of bench/deflate_bench.py.

Usage: python3 socketify_deflate.py PORT
"""
import sys

from socketify import App, CompressOptions, OpCode  # noqa: F401

port = int(sys.argv[1])
app = App()
shared = CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR


def echo_message(ws, message, opcode):
    ws.send(message, opcode, True)  # compress: when deflate was agreed


def chat_open(ws):
    ws.subscribe("room")


def chat_message(ws, message, opcode):
    app.publish("room", message, opcode, True)


for path, handlers in (("/ws/echo", {"message": echo_message}),
                       ("/ws/chat", {"open": chat_open, "message": chat_message})):
    app.ws(path, {"compression": shared, "max_payload_length": 64 * 1024, "idle_timeout": 960, **handlers})
app.listen({"port": port, "host": "127.0.0.1"}, lambda config: print(f"listening on {port}", flush=True))
app.run()
