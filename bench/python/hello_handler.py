"""The RequestHandler path: Tornado's hello world on squall (PORT in argv[1])."""
import sys

from squall import ioloop, web


class Main(web.RequestHandler):
    def get(self):
        self.write("Hello, world")


web.Application([(r"/", Main)]).listen(int(sys.argv[1]), "127.0.0.1")
ioloop.IOLoop.current().start()
