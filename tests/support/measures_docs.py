"""Constructed transcripts and voiced dialogues whose process measures are known by hand: shared by the measures,
timeline and trajectory tests."""
import numpy as np

from .audio import RATE, voiced

T, C = "SPEAKER_00", "SPEAKER_01"
ROLES = {T: {"role": "therapist"}, C: {"role": "client"}}


def seg(speaker, start, end, text="", words=None):
    return {"speaker": speaker, "start": start, "end": end, "text": text, "words": words or []}


# Times in quarter seconds, so sums and differences are exact in binary floating point.
SEGMENTS = [
    seg(T, 0.0, 4.0, "How are you today? Did you sleep well?"),  # 2 questions, 8 words
    seg(C, 5.0, 9.0, "Not really. What I noticed was the noise."),  # switching pause 1.0; not a question
    seg(T, 9.5, 12.0, "I see. Tell me more"),  # switching pause 0.5
    seg(C, 10.0, 10.5, "Mm-hm."),  # back-channel: 0.5 s wholly inside the therapist's speech
    seg(C, 11.5, 16.0, "It kept me awake. Why me?"),  # interrupts: starts inside T's speech, goes on alone
    seg(C, 17.0, 19.0, "Every night."),  # a 1.0 s pause inside the client's turn
    # 4.0 s of silence: a long gap
    seg(T, 23.0, 26.0, "What do you think about that.", [  # a question by its inverted form; word timings
        {"start": 23.0, "end": 23.5, "text": "What"}, {"start": 23.5, "end": 24.0, "text": "do"},
        {"start": 24.0, "end": 24.5, "text": "you"}, {"start": 24.5, "end": 25.0, "text": "think"},
        {"start": 25.0, "end": 25.5, "text": "about"}, {"start": 25.5, "end": 26.0, "text": "that."}]),
    seg(C, 24.0, 25.5, "I do not know, I just"),  # 1.5 s over the therapist without taking the floor
    seg(C, 26.0, 30.0, "It is hard to say really"),  # starts as the therapist stops: offset 0
    seg(T, 29.0, 31.0, "Let us slow down."),  # interrupts the client: overlap 1.0, goes on alone
]
DOC = {"duration": 32.0, "speakers": ROLES, "segments": SEGMENTS}


def dialogue(therapist_f0, client_f0, turn_s=1.0, gap_s=0.25, amplitudes=(0.3, 0.3)):
    """Alternating turns (therapist first) of voiced signals at the given F0s, with the transcript document."""
    pieces, segments, t = [], [], 0.0
    for i in range(max(len(therapist_f0), len(client_f0))):
        for speaker, f0s, amp in ((T, therapist_f0, amplitudes[0]), (C, client_f0, amplitudes[1])):
            if i < len(f0s):
                pieces += [voiced(f0s[i], turn_s, amplitude=amp), np.zeros(int(gap_s * RATE))]
                segments.append(seg(speaker, t, t + turn_s))
                t += turn_s + gap_s
    return np.concatenate(pieces), {"duration": t, "speakers": ROLES, "segments": segments}
