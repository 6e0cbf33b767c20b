"""Vocal synchrony: how one speaker's arousal follows the other's across turns, against a shuffled baseline.

Turns are taken in time order (consecutive turns are different speakers': timeline.Turn). For a leader A, a
follower B and a lag of k turns, the pairs are (arousal of A's turn i, arousal of B's turn i + k) for every i
where turn i is A's, turn i + k is B's and both have an arousal value; lag 1 pairs each turn with the reply
that follows it (the adjacent-turn pairs of Imel et al. 2014 and Reich et al. 2014, J Soc Clin Psychol
33:481-494). Synchrony at that lag is Pearson's r over the pairs.

Surrogate baseline: the follower's values are shuffled among the pairs (``SURROGATES`` random permutations,
a fixed seed), which keeps both speakers' distributions and breaks the turn-by-turn pairing; reported are
the surrogates' mean and SD of r, the excess r - mean(surrogate r) and the permutation p-value
(1 + #{|r_surrogate| >= |r|}) / (1 + SURROGATES).
"""
from __future__ import annotations

import numpy as np

SURROGATES = 1000
LAGS = (1, 3)  # in turns: the reply, and the other speaker's turn after next
MIN_PAIRS = 5
SEED = 27


def pairs(turns: list[dict], leader: str, follower: str, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """(leader's arousal, follower's arousal ``lag`` turns later) over all such pairs."""
    x, y = [], []
    for i in range(len(turns) - lag):
        a, b = turns[i], turns[i + lag]
        if a["speaker"] == leader and b["speaker"] == follower and a["arousal"] is not None \
                and b["arousal"] is not None:
            x.append(a["arousal"])
            y.append(b["arousal"])
    return np.array(x, dtype=float), np.array(y, dtype=float)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx @ dx) * (dy @ dy))
    return float(dx @ dy / denom) if denom > 0 else None


def synchrony(x: np.ndarray, y: np.ndarray, surrogates: int = SURROGATES, seed: int = SEED) -> dict:
    """r over the pairs and its shuffled-pair baseline (None where fewer than ``MIN_PAIRS`` pairs)."""
    n = len(x)
    r = pearson(x, y) if n >= MIN_PAIRS else None
    if r is None:
        return {"pairs": n, "r": None, "surrogate_mean": None, "surrogate_sd": None, "excess": None, "p": None}
    rng = np.random.default_rng(seed)
    shuffled = np.array([rng.permutation(y) for _ in range(surrogates)])
    dx = x - x.mean()
    dy = shuffled - shuffled.mean(axis=1, keepdims=True)
    rs = (dy @ dx) / np.sqrt((dx @ dx) * np.einsum("ij,ij->i", dy, dy))
    return {"pairs": n, "r": r, "surrogate_mean": float(rs.mean()), "surrogate_sd": float(rs.std(ddof=1)),
            "excess": float(r - rs.mean()), "p": float((1 + np.sum(np.abs(rs) >= abs(r) - 1e-12)) / (1 + surrogates))}


def dyad_synchrony(turns: list[dict], a: str, b: str, lags=LAGS, surrogates: int = SURROGATES) -> dict:
    """Synchrony of each direction ("A->B": B following A) at each lag."""
    return {f"{lead}->{follow}": {str(lag): synchrony(*pairs(turns, lead, follow, lag), surrogates=surrogates)
                                  for lag in lags}
            for lead, follow in ((a, b), (b, a))}
