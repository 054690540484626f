"""
Atomic saves: every file the package writes goes to a temporary file next to its target first and is renamed
over it only once complete, so a full disk or a killed process leaves the previous file (or none), never a
truncated one. Folders (fine-tuned models) are written the same way, as a whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened or synced
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[str]:
    """A temporary file beside `path`: renamed over `path` when the block succeeds, removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path` for writing; on success it replaces `path`, on error it is removed."""
    with (
        _replacing(Path(path)) as temporary,
        open(temporary, mode, encoding=None if "b" in mode else encoding) as handle,
    ):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: str | Path, text: str) -> None:
    """`Path.write_text`, atomically."""
    with atomic_open(path) as handle:
        handle.write(text)


def write_with(path: str | Path, save: Callable[[str], object]) -> None:
    """Let `save(temporary_path)` write a file (e.g. a library's `save_to_disk`), then rename it to `path`."""
    with _replacing(Path(path)) as temporary:
        save(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """
    Yield an empty temporary folder beside `path`; on success it replaces `path` as a whole (the old folder is
    removed only after the new one is in place), on error it is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = None
    if path.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, previous / path.name)
    os.replace(staging, path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    _fsync_folder(path.parent)
