"""Shared fixtures: the real bundled teacher, and ../shared/data (skipped where absent, required in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "audio_samples"
COMMANDS = SAMPLES / "commands"  # one folder per label


def shared_data_dir() -> Path:
    """``$SHARED_DATA`` or ``../shared/data`` beside the checkout."""
    return Path(os.environ.get("SHARED_DATA") or ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-audio folder; CI (REQUIRE_SHARED_DATA=1) fails instead of skipping when it is missing."""
    path = shared_data_dir()
    if not (path / "README.md").is_file():
        if os.environ.get("REQUIRE_SHARED_DATA") == "1":
            pytest.fail(f"REQUIRE_SHARED_DATA=1 but {path} is missing")
        pytest.skip(f"{path} is absent (real audio for development; see DEVELOPERS.md)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Label caches go to a temp dir; converted weights stay in the user cache (converted once); models and
    recordings a test makes go to a temp XDG data home, never the user's."""
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))


@pytest.fixture(scope="session")
def hf_teacher():
    """The real tiny.en teacher on transformers (labelling backend)."""
    from assistant.teacher import load_teacher

    return load_teacher("tiny.en", "transformers", threads=2)


@pytest.fixture(scope="session")
def ct2_teacher():
    """The real tiny.en teacher on CTranslate2, float32 for parity."""
    from assistant.teacher import load_teacher

    return load_teacher("tiny.en", "ctranslate2", threads=2, compute_type="float32")


@pytest.fixture(scope="session")
def labelset():
    from assistant.labelset import load_labelset

    return load_labelset("speech_commands")


def sample(label: str, index: int = 0) -> Path:
    """A shipped synthetic clip of ``label``."""
    return sorted((COMMANDS / label).glob("*.flac"))[index]


def sine(freq: float, rate: int, seconds: float = 1.0, channels: int = 1) -> np.ndarray:
    """A test tone, shape (n,) or (n, channels)."""
    t = np.arange(int(rate * seconds)) / rate
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)
