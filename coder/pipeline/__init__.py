"""From a recording to a transcript: one module per stage, each usable alone, with plain data between them.

    audio (decode, check, 16 kHz) → vad (speech) → asr (Whisper) → guards (loops removed)
        → diarize (who spoke when) → words (a speaker per word) → roles (therapist, client) → formats (exports)

``transcribe`` composes the stages for one file and ``batch`` for many; ``playback`` makes the rater's listening
copies, ``modelstore`` the local store of Whisper weights, ``rttm`` reads and writes speaker turns.

Pure of storage, the web and the command line (checked by import-linter): nothing here knows a study.
"""

import os

# OpenMP threads (torch's and CTranslate2's libgomp) otherwise spin while they wait for work; on a machine shared
# with other jobs the spinning threads took the cores from each other, up to 7 times the CPU and 8 times the wall
# time for the same model calls (docs/benchmarks.md). Read once, when the library loads: before torch's import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
