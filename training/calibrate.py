"""Fit the teacher posterior's constants (unknown score, silence bias, temperature) on calibration speakers.

Argmax does not depend on the temperature, so ``log_tau`` and ``silence_bias`` are chosen on a grid
for the best class-balanced accuracy, then the temperature for the lowest negative log-likelihood.
Only clips of the ``calib`` speaker split are used; reported figures come from the other speakers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from assistant.labelset import LabelSet
from assistant.teacher.posterior import Calibration, log_posterior


def balanced_accuracy(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> float:
    """Mean over present classes of per-class recall."""
    accs = [float(np.mean(pred[truth == k] == k)) for k in range(n_classes) if np.any(truth == k)]
    return float(np.mean(accs)) if accs else 0.0


def fit(scores: np.ndarray, nonspeech: np.ndarray, level_db: np.ndarray, truth: np.ndarray,
        label_set: LabelSet, base: Calibration = Calibration()) -> tuple[Calibration, dict]:
    """Best calibration for raw teacher outputs ``scores`` (N, K), ``nonspeech`` (N,), ``level_db`` (N,)."""
    n = len(label_set.labels)
    taus = np.arange(-10.0, 0.01, 0.25) if label_set.unknown else np.array([base.log_tau])
    biases = np.arange(-6.0, 8.01, 0.25) if label_set.silence else np.array([base.silence_bias])
    best = (-1.0, base)
    for tau in taus:
        for bias in biases:
            cal = replace(base, log_tau=float(tau), silence_bias=float(bias), temperature=1.0)
            pred = log_posterior(scores, nonspeech, level_db, label_set, cal).argmax(axis=1)
            acc = balanced_accuracy(pred, truth, n)
            # ties: prefer the setting closest to the middle of its plateau (smallest |change|)
            if acc > best[0] + 1e-9:
                best = (acc, cal)
    acc, cal = best
    temps = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    nll = [float(-np.mean(log_posterior(scores, nonspeech, level_db, label_set,
                                        replace(cal, temperature=float(t)))[np.arange(len(truth)), truth]))
           for t in temps]
    cal = replace(cal, temperature=float(temps[int(np.argmin(nll))]))
    return cal, {"balanced_accuracy": acc, "nll": min(nll), "clips": int(len(truth))}
