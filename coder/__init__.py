"""coder: transcription, rating and reliability for psychotherapy process research."""

__version__ = "0.1.0"
