"""Accuracy figures and plots shared by teacher and student evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Accuracy:
    """Argmax accuracy over a label set."""

    labels: tuple[str, ...]
    confusion: np.ndarray
    """(K, K) counts: rows are truth, columns predictions."""

    @property
    def overall(self) -> float:
        """Fraction of clips right."""
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else 0.0

    @property
    def per_class(self) -> dict[str, float]:
        """Recall of each label that occurs in the truth."""
        rows = self.confusion.sum(axis=1)
        return {l: float(self.confusion[i, i] / rows[i]) for i, l in enumerate(self.labels) if rows[i]}

    def subset(self, labels: list[str]) -> float:
        """Accuracy over the clips whose truth is one of ``labels``."""
        idx = [self.labels.index(l) for l in labels if l in self.labels]
        rows = self.confusion[idx]
        return float(sum(self.confusion[i, i] for i in idx) / rows.sum()) if rows.sum() else 0.0

    def to_dict(self) -> dict:
        """JSON form."""
        return {"overall": self.overall, "per_class": self.per_class,
                "counts": {l: int(c) for l, c in zip(self.labels, self.confusion.sum(axis=1))},
                "labels": list(self.labels), "confusion": self.confusion.tolist()}


def accuracy(truth: list[str], pred: list[str], labels: tuple[str, ...]) -> Accuracy:
    """Confusion counts of predictions against truth (truth outside ``labels`` is an error)."""
    index = {l: i for i, l in enumerate(labels)}
    conf = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth, pred):
        conf[index[t], index[p]] += 1
    return Accuracy(labels, conf)


def plot_confusion(acc: Accuracy, path: Path, title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (counts written in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = acc.confusion
    norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    k = len(acc.labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * k, 0.8 + 0.5 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), acc.labels, rotation=60, ha="right")
    ax.set_yticks(range(k), acc.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("truth")
    for i in range(k):
        for j in range(k):
            if conf[i, j]:
                ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(f"{title}\naccuracy {acc.overall:.1%} on {conf.sum()} clips", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
