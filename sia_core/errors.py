"""The one exception type whose message the CLI prints as a single line, and how a
message names a path."""

from __future__ import annotations

from pathlib import Path


class SiaError(Exception):
    """A problem the user can fix; its message says what is wrong and what to do."""


def relative_paths(text: str | None, base: Path) -> str | None:
    """`text` with every path under `base` written relative to it (`base` itself as
    "."): how a record names files of a directory that is renamed once it is whole, so
    that nothing has to be rewritten after the rename."""
    if not text:
        return text
    return text.replace(f"{base}/", "").replace(str(base), ".")
