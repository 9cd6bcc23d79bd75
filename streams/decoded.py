"""Decoded values of the keys a stage touched last, kept next to the bytes they decode.

A member's events come in runs (a session's impressions, then its clicks and views),
and every autoplay of a partition changes that partition's part of the global watch
statistics, so stages read back, many times a second, the values they have just written.
A value is reused only while the store still holds the very bytes it was decoded from
or encoded to, so the store stays the one truth: a value written elsewhere (a restore
from the changelog, a partition back from another worker) is decoded afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Decoded(Generic[K, V]):
    """The last `size` values decoded or written, by key.

    >>> calls = []
    >>> cache = Decoded(lambda raw: calls.append(raw) or raw.decode(), size=2)
    >>> cache.get("a", b"x"), cache.get("a", b"x"), cache.get("a", b"y"), calls
    ('x', 'x', 'y', [b'x', b'y'])
    """

    def __init__(self, decode: Callable[[bytes], V], size: int) -> None:
        self.decode = decode
        self.size = size
        self.values: dict[K, tuple[bytes, V]] = {}

    def get(self, key: K, raw: bytes) -> V:
        """The value `raw` (the store's bytes for `key`) decodes to."""
        known = self.values.get(key)
        if known is not None and (known[0] is raw or known[0] == raw):
            return known[1]
        value = self.decode(raw)
        self.put(key, raw, value)
        return value

    def put(self, key: K, raw: bytes, value: V) -> None:
        """`value` was just written to the store as `raw`."""
        values = self.values
        values.pop(key, None)
        values[key] = (raw, value)
        if len(values) > self.size:
            del values[next(iter(values))]

    def raw(self, key: K, value: V) -> bytes | None:
        """The bytes `value` was decoded from or written as, if it is the one kept."""
        known = self.values.get(key)
        return known[0] if known is not None and known[1] is value else None

    def clear(self) -> None:
        """Forget every value (one may have changed without being written)."""
        self.values.clear()
