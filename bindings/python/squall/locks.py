"""``squall.locks``: Tornado's ``tornado.locks``, re-exported.

Pure Python with no I/O of its own, so squall reuses it as is (the decision
is in docs/ARCHITECTURE.md, Python package); it runs on the asyncio loop that
squall's IOLoop drives.
"""
from ._reuse import reexport

_tornado_module = reexport(globals(), "tornado.locks")
