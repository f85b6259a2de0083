"""Bad and odd audio: resampled and handled correctly, or refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from assistant.audio import SAMPLE_RATE, load_audio, prepare
from assistant.errors import AudioError

from .conftest import sine


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x))
    return float(np.argmax(spec) * SAMPLE_RATE / len(x))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_odd_rates_resample_to_16k_keeping_pitch(tmp_path: Path, rate: int) -> None:
    path = tmp_path / f"tone{rate}.wav"
    sf.write(path, sine(440.0, rate), rate)
    audio = load_audio(path)
    assert abs(len(audio.samples) - SAMPLE_RATE) <= 2
    assert audio.source_rate == rate
    assert abs(_peak_hz(audio.samples) - 440.0) < 2.0
    assert audio.samples.dtype == np.float32


def test_stereo_is_mixed_to_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    sf.write(path, sine(300.0, 44100, channels=2), 44100)
    audio = load_audio(path)
    assert audio.samples.ndim == 1 and audio.source_channels == 2
    assert abs(_peak_hz(audio.samples) - 300.0) < 2.0


def test_silent_audio_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(16000, np.float32), 16000)
    assert not load_audio(path).samples.any()


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"RIFF1234WAVEjunk" * 8, "cannot decode"),
    (b"\x00\x01not audio at all" * 100, "cannot decode"),
])
def test_broken_files_are_refused_with_one_line(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=match) as e:
        load_audio(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_real_corrupt_flac_streams(shared_data: Path) -> None:
    for path in sorted((shared_data / "bad_audio").glob("*.flac")):
        with pytest.raises(AudioError, match="corrupt") as e:
            load_audio(path)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_samples(tmp_path: Path, bad: float) -> None:
    x = sine(440.0, 16000)
    x[100:110] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(path)


def test_hours_long_file_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    block = np.zeros(8000 * 60, np.uint8)
    with sf.SoundFile(path, "w", 8000, 1, subtype="PCM_U8", format="WAV") as f:
        for _ in range(60):  # one hour at 8 kHz, 8 bit (29 MB)
            f.write(block.astype(np.int16))
    with pytest.raises(AudioError, match="3600.0 s is longer than the 30 s limit"):
        load_audio(path)


def test_empty_array_and_weird_shapes() -> None:
    with pytest.raises(AudioError, match="empty"):
        prepare(np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="shape"):
        prepare(np.zeros((2, 2, 2), np.float32), 16000)
    with pytest.raises(AudioError, match="sample rate"):
        prepare(np.zeros(100, np.float32), 0)


def test_int16_and_overfull_float_are_scaled() -> None:
    x = (sine(440.0, 16000) * 32767 * 2).astype(np.int16)  # wraps, but stays int16 in range
    assert np.abs(prepare(x, 16000).samples).max() <= 1.0
    loud = sine(440.0, 16000) * 8
    assert np.isclose(np.abs(prepare(loud, 16000).samples).max(), 1.0)


def test_sha_is_content_based(tmp_path: Path) -> None:
    x = sine(440.0, 16000)
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    sf.write(tmp_path / "b.flac", x, 16000, subtype="PCM_24")
    a, b = load_audio(tmp_path / "a.wav"), load_audio(tmp_path / "a.wav")
    assert a.sha256 == b.sha256
    assert load_audio(tmp_path / "b.flac").sha256 != prepare(x * 0.5, 16000).sha256
