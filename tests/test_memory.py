"""coder.pipeline.memory.give_back returns freed heap memory to the system (glibc's malloc_trim), which the
diariser calls between its networks' batches while Whisper decodes beside it."""
import platform

import numpy as np
import pytest

from coder.pipeline import memory


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_memory_goes_back_to_the_system():
    blocks = [np.ones(8192) for _ in range(2000)]  # 64 KiB each: from the heap, below glibc's mmap threshold
    keep = np.ones(8192)  # allocated last, kept: the freed blocks below it are not at the heap's top
    before = _resident_mb()
    del blocks
    freed = _resident_mb()
    memory.give_back()
    after = _resident_mb()
    assert freed > before - 40  # glibc kept most of the 125 MiB for reuse
    assert after < freed - 80  # ... until asked to give it back
    assert keep.sum() == 8192



# Six threads allocate at the same moment; glibc's malloc_info then lists the heaps (arenas) in use.
PROBE = """
import ctypes, sys, tempfile, threading
import numpy as np
from coder.pipeline.memory import limit_arenas
limit_arenas()  # as transcribe_file does, before its threads allocate
barrier = threading.Barrier(6)
def run():
    barrier.wait()
    blocks = [np.ones(4096) for _ in range(200)]
    barrier.wait()
threads = [threading.Thread(target=run) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile() as tmp:
    f = libc.fopen(tmp.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(f))
    libc.fclose(ctypes.c_void_p(f))
    print(open(tmp.name).read().count("<heap nr="))
"""


def _heaps(**env) -> int:
    import os
    import subprocess
    import sys

    from .support.paths import ROOT

    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True,
                         text=True, check=True, timeout=120)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="M_ARENA_MAX is glibc's")
def test_threads_share_at_most_two_heaps_unless_the_user_says_otherwise():
    assert _heaps() <= memory.ARENAS
    assert _heaps(MALLOC_ARENA_MAX="8") > memory.ARENAS  # the user's setting wins (and shows the probe can tell)
