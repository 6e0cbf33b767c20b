"""Background processing of recordings: a study's processing options (``options``), the job queue and its
workers (``queue``: Huey, claims, heartbeats, the reaper) and the work of one job (``processing``: transcribe a
recording with coder.pipeline and store the transcript)."""
