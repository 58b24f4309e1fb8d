"""Folders written aside and renamed into place, so that a reader (an analyst, the API server, a sensor) sees the
old folder or the new one, never half of one and never none."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def folder_in_place(final: str) -> Iterator[str]:
    """Yield a hidden temporary folder beside `final`; when the block ends without error it becomes `final` (an
    existing `final` is moved aside under a hidden name first and then removed); on error it is removed."""
    parent = os.path.dirname(final) or "."
    os.makedirs(parent, exist_ok=True)
    name = os.path.basename(final)
    tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=parent)
    try:
        yield tmp
        old = os.path.join(parent, f".{name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(final):
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
