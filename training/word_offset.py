"""An added word's logit offset, fitted on read speech of speakers it never trained on.

A word learnt from a few dozen synthetic clips is less sure of real voices than of the voices it learnt
from: real clips of it come out just under the top, as ``_unknown_`` (docs/add-intent/README.md). Raising
its logit by ``b`` wins them back, and costs false accepts on other speech; how many is measured, not
guessed: ``b`` is the largest offset in ``[0, cap]`` under which at most ``rate`` of 1 s windows of read
speech by held-out speakers would be heard as the word. The offset goes into the output layer's bias, so
the ONNX graph, the probabilities and every decision bar see the same word.
"""

from __future__ import annotations

import hashlib

import numpy as np

FIT_SHARE = 3
"""One read-speech speaker in ``FIT_SHARE`` (by a hash of the speaker) is kept out of the rehearsal to fit
the offset on."""
FIT_RATE = 0.0
"""Share of the held-out read-speech windows the offset may turn into the word (at most); 0: no offset.
Off by default: read speech and isolated command words of unseen speakers do not predict the false
accepts an offset brings on short phrases and digits (docs/add-intent/README.md, 2026-12-03)."""
OFFSET_CAP = 2.0
"""The largest offset (logit units); beyond it false accepts on single words grow faster than recall."""


def fits_offset(speaker: str) -> bool:
    """True for the read-speech speakers kept to fit the offset on (never trained on)."""
    return int(hashlib.sha1(f"offset:{speaker}".encode()).hexdigest()[:8], 16) % FIT_SHARE == 0


def split_speakers(clips: list) -> tuple[list, list]:
    """(clips to train on, clips to fit the offset on): every clip of a speaker on the same side."""
    held = [fits_offset(c.speaker) for c in clips]
    return [c for c, h in zip(clips, held) if not h], [c for c, h in zip(clips, held) if h]


def margins(logits: np.ndarray, index: int) -> np.ndarray:
    """The word's logit minus the largest other one, per window: (N, C) -> (N,); > 0 means top label."""
    others = np.delete(logits, index, axis=1)
    return logits[:, index] - others.max(axis=1)


def fit_offset(m: np.ndarray, rate: float = FIT_RATE, cap: float = OFFSET_CAP) -> float:
    """The largest ``b`` in ``[0, cap]`` with ``mean(m + b > 0) <= rate`` for negative windows' margins ``m``;
    0 when ``rate`` is 0, there are none, or the word already fires on more than ``rate`` of them."""
    m = np.asarray(m, dtype=np.float64)
    if rate <= 0 or m.size == 0 or np.mean(m > 0) > rate:
        return 0.0
    allowed = int(np.floor(rate * m.size))  # windows that may fire
    order = np.sort(m)[::-1]
    if allowed >= m.size:
        return float(cap)
    # windows order[:allowed] may cross 0; order[allowed] must stay at or under it
    return float(np.clip(-order[allowed], 0.0, cap))


def shift_output(model, index: int, offset: float) -> None:
    """Add ``offset`` to the bias of output ``index`` of a torch student (its side branch's, or its row of
    the main head's last layer), in place."""
    import torch

    dims = model.dims
    with torch.no_grad():
        if index in dims.branches:
            model.branches[list(dims.branches).index(index)][-1][4].bias[0] += offset
        else:
            main = [i for i in range(dims.n_classes) if i not in dims.branches]
            model.head[4].bias[main.index(index)] += offset


def fit_and_shift(model, windows: np.ndarray, index: int, rate: float = FIT_RATE, batch: int = 256) -> dict:
    """Fit the offset of output ``index`` on negative ``windows`` (N, samples) and add it to ``model``; what
    was fitted (``offset``, the windows, the share that fires before and after)."""
    from .model import batch_logits

    if rate <= 0 or len(windows) == 0:
        return {"offset": 0.0, "windows": int(len(windows)), "rate": rate}
    m = margins(batch_logits(model, windows, batch), index)
    b = fit_offset(m, rate)
    shift_output(model, index, b)
    return {"offset": b, "windows": int(len(windows)), "rate": rate, "fired_before": float(np.mean(m > 0)),
            "fired_after": float(np.mean(m + b > 0))}
