"""WebSockets from Python: /ws/echo echoes, /ws/chat publishes every message
to the "chat" topic (fan-out in Rust). argv[1]: port."""
import sys

from squall import ioloop, web, websocket


class Echo(websocket.WebSocketHandler):
    max_message_size = 64 << 20

    def check_origin(self, origin):
        return True

    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class Chat(websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self):
        self.subscribe("chat")

    def on_message(self, message):
        self.application.publish("chat", message, binary=isinstance(message, bytes))


web.Application([(r"/ws/echo", Echo), (r"/ws/chat", Chat)]).listen(int(sys.argv[1]), "127.0.0.1")
ioloop.IOLoop.current().start()
