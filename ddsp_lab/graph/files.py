"""Atomic file writes for presets, pictures and checkpoints.

Every file is written to a temporary name in its destination folder and then
moved over the destination with ``os.replace``, so an interrupted write never
leaves a truncated preset, picture or checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable


def write_atomic(path, write: Callable[[str], None]) -> str:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    The folder of ``path`` must exist. The file gets the permissions an
    ordinary new file would get (``mkstemp`` creates it private).

    Returns:
        ``path`` as a string.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"folder for {path} does not exist: {folder}")
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    os.close(handle)
    try:
        write(temporary)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_text_atomic(path, text: str) -> str:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)

    return write_atomic(path, write)
