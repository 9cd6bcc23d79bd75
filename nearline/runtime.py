"""Start-up checks: refuse to run slowly by accident."""

from __future__ import annotations


class RuntimeCheckError(RuntimeError):
    """The environment would work, but far slower than intended."""


def require_fast_aiokafka() -> str:
    """aiokafka's record codecs must be its C extension; the pure-Python fallback is
    several times slower and is chosen silently when the wheel lacks the build."""
    from aiokafka.record.default_records import DefaultRecordBatchBuilder

    module = DefaultRecordBatchBuilder.__module__
    if "_crecords" not in module:
        raise RuntimeCheckError(
            "aiokafka is running without its C extension (pure Python, several times "
            "slower): unset AIOKAFKA_NO_EXTENSIONS or install a binary aiokafka wheel"
        )
    return module
