"""A listening copy's clip as an HTTP response, with byte ranges (206), so that playback starts and seeks at once."""
from __future__ import annotations

from flask import Response, request

from coder.pipeline import playback


def response(clip: playback.Clip) -> Response:
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav", "Cache-Control": "private, no-store"}
    start, stop, status = 0, clip.length, 200
    if request.range is not None:
        span = request.range.range_for_length(clip.length)
        if span is None:
            return Response(status=416, headers={**headers, "Content-Range": f"bytes */{clip.length}"})
        start, stop, status = span[0], span[1], 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{clip.length}"
    headers["Content-Length"] = str(stop - start)
    if request.method == "HEAD":
        return Response(status=status, headers=headers)
    return Response(clip.read(start, stop), status=status, headers=headers, direct_passthrough=True)
