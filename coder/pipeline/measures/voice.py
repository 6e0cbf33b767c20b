"""Voice measures from the recording: F0, intensity and vocal arousal per turn.

- **F0** (Hz): the fundamental frequency track of the mono 16 kHz recording, by Praat's autocorrelation method
  (Boersma 1993, through praat-parselmouth: ``To Pitch (ac)``, 10 ms steps) or by probabilistic YIN (Mauch &
  Dixon 2014, ``librosa.pyin`` at 8 kHz, 20 ms steps, 0.2-semitone bins); both between ``PITCH_FLOOR_HZ`` and
  ``PITCH_CEILING_HZ``; unvoiced frames left out. The track runs over the speech only (each speaker's solo
  stretches, widened by ``SPAN_PAD_S``), not the silences between. A speaker's F0 mean, SD (Hz) and SD in semitones
  (SD of 12·log2(F0 / 100 Hz)) are over their voiced frames in the time they speak alone (overlapped speech
  mixes two voices and is left out).
- **Intensity** (dB): 10·log10(mean(x²) / p0²) over the samples of the speaker's solo speech, the samples
  taken as pascals and p0 = 20 µPa (Praat's convention, so a full-scale sine reads 90.97 dB); an energy mean,
  not a mean of frame decibels.
- **Vocal arousal per turn**: the turn's mean F0 over its voiced frames in solo speech (at least
  ``MIN_VOICED_FRAMES`` of them), standardised within speaker over the session's turns:
  z = (F0_turn - mean_speaker) / SD_speaker (SD with n - 1). Mean F0 per talk turn as the index of vocally
  encoded arousal follows Imel et al. (2014, J Couns Psychol 61:146-153) and Weusthoff, Baucom & Hahlweg
  (2013, Front Psychol 4:439); the within-speaker z-score removes the difference between voices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from coder.pipeline.measures.timeline import Conversation
from coder.pipeline.spans import merged

PITCH_FLOOR_HZ = 65.0
PITCH_CEILING_HZ = 500.0
PRAAT_STEP_S = 0.01
PYIN_RATE = 8000  # pYIN runs on the recording resampled to 8 kHz: F0 below 500 Hz needs no more, and it is 4x faster
PYIN_FRAME = 512  # 64 ms at 8 kHz: four periods of the pitch floor
PYIN_HOP = 160  # 20 ms
PYIN_RESOLUTION = 0.2  # semitones per bin; the estimate is a bin centre, so at most 0.58 % off
MIN_VOICED_FRAMES = 5
SPAN_PAD_S = 0.1  # tracking over speech only: each stretch widened by this much audio on either side
PITCH_MIN_S = 0.1  # shorter stretches are left out: too short for a few periods of the pitch floor
P0 = 2e-5  # Pa, the reference sound pressure
ESTIMATORS = ("praat", "pyin")


@dataclass
class Track:
    times: np.ndarray  # s, frame centres
    f0: np.ndarray  # Hz, NaN where unvoiced
    method: str


def f0_track(samples: np.ndarray, rate: int, method: str = "praat", spans=None) -> Track:
    """The F0 track of a mono signal by ``method`` (one of ``ESTIMATORS``); with ``spans`` ((start, end) in
    seconds), only over them, each widened by ``SPAN_PAD_S`` (the silences between are never used)."""
    if method not in ESTIMATORS:
        raise ValueError(f"unknown F0 estimator {method!r}; choose one of {', '.join(ESTIMATORS)}")
    if spans is None:
        return _track(np.asarray(samples, dtype=np.float64), rate, method, 0.0)
    pieces = []
    for a, b in merged((max(0.0, a - SPAN_PAD_S), min(len(samples) / rate, b + SPAN_PAD_S)) for a, b in spans):
        start = int(round(a * rate))
        piece = samples[start:int(round(b * rate))]
        if len(piece) >= PITCH_MIN_S * rate:  # a float64 copy of each piece, not of the whole recording
            pieces.append(_track(np.asarray(piece, dtype=np.float64), rate, method, start / rate))
    if not pieces:
        return Track(np.zeros(0), np.zeros(0), method)
    return Track(np.concatenate([p.times for p in pieces]), np.concatenate([p.f0 for p in pieces]), method)


def _track(samples: np.ndarray, rate: int, method: str, offset: float) -> Track:
    if method == "praat":
        import parselmouth  # Praat's C++ core: loaded when a track is asked for

        pitch = parselmouth.Sound(samples, sampling_frequency=rate).to_pitch_ac(
            time_step=PRAAT_STEP_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
        f0 = pitch.selected_array["frequency"].astype(np.float64)
        f0[f0 <= 0] = np.nan
        return Track(np.asarray(pitch.xs()) + offset, f0, method)
    import librosa

    y = librosa.resample(samples, orig_sr=rate, target_sr=PYIN_RATE) if rate != PYIN_RATE else samples
    f0, voiced, _ = librosa.pyin(y, fmin=PITCH_FLOOR_HZ, fmax=PITCH_CEILING_HZ, sr=PYIN_RATE,
                                 frame_length=PYIN_FRAME, hop_length=PYIN_HOP, resolution=PYIN_RESOLUTION,
                                 center=True)
    f0 = np.where(voiced, f0, np.nan)
    return Track(np.arange(len(f0)) * PYIN_HOP / PYIN_RATE + offset, f0, method)


def _mask(times: np.ndarray, spans) -> np.ndarray:
    """Which of the (sorted) times fall in one of the spans."""
    inside = np.zeros(len(times), dtype=bool)
    for a, b in spans:
        inside[np.searchsorted(times, a, "left"):np.searchsorted(times, b, "left")] = True
    return inside


def _clip_spans(spans, start: float, end: float):
    return [(max(a, start), min(b, end)) for a, b in spans if min(b, end) > max(a, start)]


def intensity_db(samples: np.ndarray) -> float | None:
    """Energy-mean intensity in dB re 20 µPa (None for no samples or silence)."""
    if len(samples) == 0:
        return None
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10 * math.log10(power / P0**2) if power > 0 else None


def f0_summary(f0: np.ndarray) -> dict[str, float | int | None]:
    voiced = f0[np.isfinite(f0)]
    if len(voiced) == 0:
        return {"f0_frames": 0, "f0_mean_hz": None, "f0_sd_hz": None, "f0_sd_semitones": None}
    st = 12 * np.log2(voiced / 100.0)
    sd = len(voiced) > 1
    return {"f0_frames": int(len(voiced)), "f0_mean_hz": float(voiced.mean()),
            "f0_sd_hz": float(voiced.std(ddof=1)) if sd else None,
            "f0_sd_semitones": float(st.std(ddof=1)) if sd else None}


def speaker_voice(conv: Conversation, track: Track, samples: np.ndarray, rate: int,
                  start: float, end: float) -> dict[str, dict]:
    """F0 summary and intensity of each speaker's solo speech within [start, end)."""
    out = {}
    for sp in conv.speakers:
        spans = _clip_spans(conv.solo.get(sp, []), start, end)
        summary = f0_summary(track.f0[_mask(track.times, spans)])
        chunks = [samples[int(round(a * rate)):int(round(b * rate))] for a, b in spans]
        summary["intensity_db"] = intensity_db(np.concatenate(chunks)) if chunks else None
        out[sp] = summary
    return out


def turn_arousal(conv: Conversation, track: Track) -> list[dict]:
    """Per turn (conv.turns order): its speaker, times, mean F0 and the within-speaker arousal z-score."""
    rows = []
    for turn in conv.turns:
        spans = _clip_spans(conv.solo.get(turn.speaker, []), turn.start, turn.end)
        f0 = track.f0[_mask(track.times, spans)]
        f0 = f0[np.isfinite(f0)]
        mean = float(f0.mean()) if len(f0) >= MIN_VOICED_FRAMES else None
        rows.append({"speaker": turn.speaker, "start": turn.start, "end": turn.end, "f0_mean_hz": mean,
                     "arousal": None})
    for sp in conv.speakers:
        values = np.array([r["f0_mean_hz"] for r in rows if r["speaker"] == sp and r["f0_mean_hz"] is not None])
        if len(values) < 2 or values.std(ddof=1) == 0:
            continue
        mu, sd = values.mean(), values.std(ddof=1)
        for r in rows:
            if r["speaker"] == sp and r["f0_mean_hz"] is not None:
                r["arousal"] = float((r["f0_mean_hz"] - mu) / sd)
    return rows
