"""``squall.tcpclient``: not built yet (issue 17: raw TCP over squall's ``sq_tcp_*``).

The names exist so that code importing them loads; making one raises
``NotImplementedError`` saying so, rather than handing out an object that
does nothing.
"""
from __future__ import annotations

from typing import Any

__all__ = ["TCPClient"]


class TCPClient:
    """Not built yet (see the module's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("squall.tcpclient.TCPClient is not built yet "
                                  "(issue 17: TCPClient over squall's TCP streams)")
