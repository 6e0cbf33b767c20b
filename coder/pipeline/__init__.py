"""From a recording to a transcript: one module per stage, each usable alone, with plain data between them.

    audio (decode, check, 16 kHz) → vad (speech) → asr (Whisper) → guards (loops removed)
        → diarize (who spoke when) → words (a speaker per word) → roles (therapist, client) → formats (exports)

``transcribe`` composes the stages for one file and ``batch`` for many; ``playback`` makes the rater's listening
copies, ``modelstore`` the local store of Whisper weights, ``rttm`` reads and writes speaker turns.

Pure of storage, the web and the command line (checked by import-linter): nothing here knows a study.
"""
