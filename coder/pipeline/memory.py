"""The resident set of a long session, with the diariser running beside Whisper.

glibc keeps freed heap memory for reuse rather than returning it, and gives each thread that allocates at the
same time as another a heap (an arena) of its own. With the diariser in a thread beside Whisper's, a 60-minute
session peaked at 3.34 GB, and at 2.63 GB with both of these (docs/benchmarks.md):

- ``limit_arenas``: at most two heaps (glibc's ``M_ARENA_MAX``; the ``MALLOC_ARENA_MAX`` variable, where the user
  set it, wins), set by ``load_engine`` and ``transcribe_file`` before their threads allocate, so that processes
  that do not transcribe (the web server) keep glibc's default;
- ``give_back``: freed heap memory returned to the system (``malloc_trim``), called between the networks' batches.

Elsewhere (musl, macOS, Windows) both do nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache

M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2


@lru_cache(maxsize=1)
def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def limit_arenas() -> bool:
    """At most ``ARENAS`` heaps for the threads of this process, unless ``MALLOC_ARENA_MAX`` says otherwise; True
    where glibc took the setting."""
    libc = _libc()
    if libc is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(libc.mallopt(M_ARENA_MAX, ARENAS))


def give_back() -> bool:
    """Return free heap memory to the system; True where glibc did so."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
