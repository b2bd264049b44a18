"""The fast path: one function per request, one call into squall (argv[1]: port)."""
import sys

from squall import ioloop, web

app = web.Application()
app.route("/", lambda req: b"Hello, world")
app.listen(int(sys.argv[1]), "127.0.0.1")
ioloop.IOLoop.current().start()
