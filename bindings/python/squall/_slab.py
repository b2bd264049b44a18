"""An integer-keyed table of Python objects handed to C as ``void *`` userdata.

C never holds a Python pointer: it holds a small integer (cast to a pointer)
that indexes this table, and the object stays alive here until it is freed
explicitly. A stale index looks up ``None`` rather than freed memory.
"""
from __future__ import annotations

from typing import Any


class Slab:
    __slots__ = ("_items", "_free")

    def __init__(self) -> None:
        # index 0 is never handed out: a NULL userdata means "none"
        self._items: list[Any] = [None]
        self._free: list[int] = []

    def put(self, obj: Any) -> int:
        if self._free:
            i = self._free.pop()
            self._items[i] = obj
            return i
        self._items.append(obj)
        return len(self._items) - 1

    def get(self, index: int | None) -> Any:
        if not index:
            return None
        try:
            return self._items[index]
        except IndexError:
            return None

    def pop(self, index: int | None) -> Any:
        if not index or index >= len(self._items):
            return None
        obj = self._items[index]
        if obj is not None:
            self._items[index] = None
            self._free.append(index)
        return obj

    def __len__(self) -> int:
        return len(self._items) - 1 - len(self._free)
