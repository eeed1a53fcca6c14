"""Swap two directory entries in one step, so a reader finds one or the other, never neither.

Linux offers this as renameat2(2) with RENAME_EXCHANGE (kernel 3.15+, glibc 2.28+, ext4, xfs,
btrfs, tmpfs and others). Where it is missing, `exchange` raises `ExchangeUnsupported` and the
caller falls back to two renames (see `evidence.runs.outputs`). EVIDENCE_NO_RENAME_EXCHANGE=1 forces
that fallback, for filesystems that misreport support and for the tests of the fallback.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

RENAME_EXCHANGE = 2
AT_FDCWD = -100
FORCE_FALLBACK_ENV = "EVIDENCE_NO_RENAME_EXCHANGE"
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP}


class ExchangeUnsupported(OSError):
    """This system or filesystem cannot exchange two entries atomically."""


def _load_renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()


def exchange(a: Path, b: Path) -> None:
    """Atomically swap the entries `a` and `b` (both must exist, on one filesystem)."""
    if os.environ.get(FORCE_FALLBACK_ENV) == "1" or _RENAMEAT2 is None:
        raise ExchangeUnsupported(errno.ENOSYS, "atomic exchange not available", str(a))
    if _RENAMEAT2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        raise ExchangeUnsupported(err, os.strerror(err), str(a), None, str(b))
    raise OSError(err, os.strerror(err), str(a), None, str(b))
