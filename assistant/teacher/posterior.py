"""Pure: turn decoder scores into the teacher's posterior over a label set (soft labels).

Every column is a log-score on the same footing, then tempered and normalised:

- command k: log P(transcript == phrase_k) under the decoder (see :mod:`.scoring`);
- ``_unknown_``: a constant ``log_tau``: out-of-set speech wins when no phrase explains the audio better
  than tau (Whisper spreads mass over other words, so "mass not on any phrase" does not work);
- ``_silence_``: log of the mass on non-speech annotations as the first token, plus ``silence_bias``;
  a clip quieter than ``silence_rms_db`` is no speech whatever the decoder says.

The constants are fitted by ``training calibrate`` on speakers disjoint from those reported on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources

import numpy as np

from ..labelset import LabelSet


@dataclass(frozen=True)
class Calibration:
    """Constants of the posterior; fitted per teacher model."""

    temperature: float = 1.0
    """Divides every log-score before the softmax (>1 softens the soft labels)."""
    log_tau: float = -4.0
    """Log-score of ``_unknown_`` (out-of-set speech)."""
    silence_bias: float = 0.0
    """Added to the log-mass of non-speech first tokens."""
    silence_rms_db: float = -70.0
    """Clips whose RMS level (dBFS) is below this are ``_silence_``."""

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")


def calibration_key(model: str, whole_phrase: bool) -> str:
    """Key of a model's entry in ``calibration.json`` (first-token scoring has its own constants)."""
    return model if whole_phrase else f"{model}/first-token"


def default_calibration(model: str, whole_phrase: bool = True) -> Calibration:
    """The shipped calibration for a bundled model name (defaults for anything else)."""
    table = json.loads(resources.files("assistant.teacher").joinpath("calibration.json").read_text())
    entry = table.get(calibration_key(model, whole_phrase), {})
    return Calibration(**{k: v for k, v in entry.items() if k in Calibration.__dataclass_fields__})


def calibration_dict(cal: Calibration) -> dict:
    """JSON form of a calibration."""
    return asdict(cal)


def rms_db(audio: np.ndarray) -> float:
    """RMS level in dBFS (-120 for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    return 20.0 * np.log10(max(rms, 1e-6))


def log_posterior(scores: np.ndarray, nonspeech: np.ndarray, level_db: np.ndarray,
                  label_set: LabelSet, cal: Calibration) -> np.ndarray:
    """Log-probabilities over ``label_set.labels``: shape (B, len(labels)); rows sum to 1 in prob space.

    ``scores``: (B, K) command log-scores; ``nonspeech``: (B,) log-mass of non-speech first tokens;
    ``level_db``: (B,) RMS level of each clip.
    """
    cols = [np.asarray(scores, dtype=np.float64)]
    if label_set.unknown:
        cols.append(np.full((cols[0].shape[0], 1), cal.log_tau))
    if label_set.silence:
        sil = np.asarray(nonspeech, dtype=np.float64) + cal.silence_bias
        quiet = np.asarray(level_db) < cal.silence_rms_db
        sil = np.where(quiet, np.maximum(sil, 0.0) + 50.0, sil)  # far ahead of any speech score
        cols.append(sil[:, None])
    z = np.concatenate(cols, axis=1) / cal.temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
