"""Audio in: read any file or array and return 16 kHz mono float32, or refuse it with one clear line.

Everything downstream (teacher, student, streaming loop) sees only what :func:`prepare` returns.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16_000  # Hz, the only rate used past this module
MAX_SECONDS_DEFAULT = 30.0  # a command clip longer than one Whisper window is refused by default
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".opus")


@dataclass(frozen=True)
class Audio:
    """A prepared clip: ``samples`` shape = (n,), float32 in [-1, 1] at :data:`SAMPLE_RATE`."""

    samples: np.ndarray
    source_rate: int
    source_channels: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / SAMPLE_RATE

    @property
    def sha256(self) -> str:
        """Content hash of the prepared samples (format- and container-independent)."""
        return audio_sha256(self.samples)


def audio_sha256(samples: np.ndarray) -> str:
    """sha256 of 16 kHz float32 samples: the key under which labels are cached."""
    return hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes()).hexdigest()


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr, high quality); shape (n,) -> (n * target / rate,)."""
    if rate == target:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), rate, target, quality="HQ").astype(np.float32)


def prepare(samples: np.ndarray, sample_rate: int, *, name: str = "audio",
            max_seconds: float | None = MAX_SECONDS_DEFAULT) -> Audio:
    """Validate and convert raw samples (shape (n,) or (n, channels)) to 16 kHz mono float32.

    Raises :class:`AudioError` for empty, NaN/inf, absurd-rate or too-long audio.
    Silent audio is valid (the teacher labels it ``_silence_``).
    """
    arr = np.asarray(samples)
    if arr.ndim not in (1, 2):
        raise AudioError(f"{name}: expected mono or multi-channel audio, got an array of shape {arr.shape}")
    channels = arr.shape[1] if arr.ndim == 2 else 1
    if not 1_000 <= int(sample_rate) <= 384_000:
        raise AudioError(f"{name}: sample rate {sample_rate} Hz is not plausible; re-export it at 16 kHz")
    if arr.size == 0:
        raise AudioError(f"{name}: the audio is empty (0 samples); record or export it again")
    if np.issubdtype(arr.dtype, np.integer):  # full scale, before mixing (the mean of ints is no int)
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if not np.isfinite(arr).all():  # before mixing and casting, which would warn (inf - inf, 1e300 -> float32)
        bad = int((~np.isfinite(arr)).sum())
        raise AudioError(f"{name}: {bad} samples are NaN or infinite; the file is damaged, re-export it")
    if arr.ndim == 2:  # mixed in float64: a float32 sum of loud channels overflows to inf
        arr = arr.mean(axis=1, dtype=np.float64) if channels > 1 else arr[:, 0]
    seconds = arr.size / sample_rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(f"{name}: {seconds:.1f} s is longer than the {max_seconds:g} s limit; "
                         "split it into shorter clips")
    peak = float(np.abs(arr).max())
    if peak > 1.0:  # float files may exceed full scale; scale down rather than clip
        arr = arr / peak
    out = resample(arr.astype(np.float32, copy=False), int(sample_rate))
    if out.size == 0:
        raise AudioError(f"{name}: the audio is too short to resample ({arr.size} samples)")
    return Audio(samples=out, source_rate=int(sample_rate), source_channels=channels)


def load_audio(source: str | Path | bytes | BinaryIO, *,
               max_seconds: float | None = MAX_SECONDS_DEFAULT) -> Audio:
    """Read a file path, bytes or file object (any format libsndfile reads) and :func:`prepare` it.

    The duration is checked from the header before decoding, so an hours-long file is refused
    without reading it into memory.
    """
    import soundfile as sf

    name = str(source) if isinstance(source, (str, Path)) else "uploaded audio"
    if isinstance(source, bytes):
        if not source:
            raise AudioError(f"{name}: the audio is empty (0 bytes); record or export it again")
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"{name}: no such file")
        if path.stat().st_size == 0:
            raise AudioError(f"{name}: the file is empty (0 bytes); record or export it again")
    try:
        with sf.SoundFile(source) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            if max_seconds is not None and rate > 0 and frames / rate > max_seconds:
                raise AudioError(f"{name}: {frames / rate:.1f} s is longer than the {max_seconds:g} s "
                                 "limit; split it into shorter clips")
            data = f.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as e:  # libsndfile errors, truncated streams, unknown formats
        detail = re.sub(r"<_io\.\w+ object at 0x[0-9a-f]+>", "the data", str(e).replace("\n", " ")).strip()
        raise AudioError(f"{name}: cannot decode audio ({detail}); the file is corrupt or not audio") from e
    return prepare(data, rate, name=name, max_seconds=max_seconds)


def is_audio_file(path: Path) -> bool:
    """True when the file name has an audio suffix this project reads."""
    return path.suffix.lower() in AUDIO_SUFFIXES


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


def centre_on_energy(audio: np.ndarray, window: int) -> np.ndarray:
    """A ``window``-sample excerpt centred on the clip's energy (or the clip zero-padded if shorter)."""
    if audio.size <= window:
        return fit_window(audio, window / SAMPLE_RATE)
    frame = 160
    e = np.convolve(audio ** 2, np.ones(frame * 10), mode="valid")
    centre = int(np.argmax(e)) + frame * 5
    start = int(np.clip(centre - window // 2, 0, audio.size - window))
    return audio[start:start + window].astype(np.float32)
