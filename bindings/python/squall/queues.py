"""``squall.queues``: Tornado's ``tornado.queues``, re-exported.

Pure Python with no I/O of its own, so squall reuses it as is (the decision
is in docs/ARCHITECTURE.md, Python package); it runs on the asyncio loop that
squall's IOLoop drives.
"""
from typing import TYPE_CHECKING

from ._reuse import reexport

if TYPE_CHECKING:
    # reexport() fills the namespace at run time, out of a type checker's
    # sight: the same names, spelled out for it (never executed).
    from tornado.queues import *  # noqa: F401,F403

_tornado_module = reexport(globals(), "tornado.queues")

del TYPE_CHECKING  # only for the block above: the module exports what it did before
