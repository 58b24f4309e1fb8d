"""Who may read what the platform writes, set by the platform itself rather than by the caller's umask.

Two classes of data:
- **raw identifiers** (the warehouse, the landing folder's deliveries, the demo's outbox, payment files and their
  manifests, the registry snapshots the servers answer from, the servers' stores, logs, reports, dbt's target
  folder): owner-only, folders 0700 and files 0600. Every process of the platform starts with the umask 077
  (`owner_only_by_default`), and the files that matter most are set explicitly where they are made.
- **the analysts' publication** (`published/`: pseudonymised marts, never a raw identifier): readable by the group
  named in `DTSEN_ANALYST_GROUP` (folders 0750, files 0640, the group set on them, and the data root traversable by
  that group only: 0710); without that setting, owner-only like everything else.
"""

from __future__ import annotations

import grp
import os

ANALYST_GROUP_ENV = "DTSEN_ANALYST_GROUP"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
SHARED_DIR, SHARED_FILE, TRAVERSE_ONLY = 0o750, 0o640, 0o710


def owner_only_by_default() -> None:
    """Every file and folder this process makes is owner-only unless the platform says otherwise."""
    os.umask(0o077)


def analyst_gid() -> int | None:
    """The analysts' group (`DTSEN_ANALYST_GROUP`, a name or a number), or None when it is not set."""
    value = os.environ.get(ANALYST_GROUP_ENV, "").strip()
    if not value:
        return None
    try:
        return int(value) if value.isdigit() else grp.getgrnam(value).gr_gid
    except KeyError:
        raise ValueError(f"{ANALYST_GROUP_ENV}={value!r}: no such group on this machine") from None


def private(path: str) -> None:
    """Owner-only: a file 0600, a folder 0700 with everything below it."""
    _apply(path, PRIVATE_DIR, PRIVATE_FILE, None)


def publication(path: str) -> None:
    """The analysts' share of a published file or folder (and what is below it): the analysts' group's when one is
    configured, owner-only otherwise."""
    gid = analyst_gid()
    if gid is None:
        _apply(path, PRIVATE_DIR, PRIVATE_FILE, None)
    else:
        _apply(path, SHARED_DIR, SHARED_FILE, gid)


def publication_root(folder: str) -> None:
    """The published folder itself (not what is below it) and the data root above it, which the analysts' group may
    pass through but not list."""
    gid = analyst_gid()
    parent = os.path.dirname(os.path.abspath(folder))
    if gid is None:
        os.chmod(folder, PRIVATE_DIR)
        return
    for path, mode in ((folder, SHARED_DIR), (parent, TRAVERSE_ONLY)):
        os.chown(path, -1, gid)
        os.chmod(path, mode)


def _apply(path: str, dir_mode: int, file_mode: int, gid: int | None) -> None:
    def one(p: str, mode: int) -> None:
        if gid is not None:
            os.chown(p, -1, gid)
        os.chmod(p, mode)

    if not os.path.isdir(path):
        one(path, file_mode)
        return
    one(path, dir_mode)
    for root, dirs, files in os.walk(path):
        for d in dirs:
            one(os.path.join(root, d), dir_mode)
        for f in files:
            one(os.path.join(root, f), file_mode)
