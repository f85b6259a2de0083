"""Build ``audio_samples/``: the small synthetic set the project ships and its main job runs on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE

from .synth import Voice, fit_window, synthesize

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("house", "bird", "happy")
VOICES = (Voice("piper-joe", 1.0, 0.667), Voice("piper-joe", 1.25, 0.8))


def build(out: Path) -> list[Path]:
    """Write one clip per command and voice, some out-of-set words, and noise-only clips (FLAC, 16 kHz, 1 s)."""
    import soundfile as sf

    written = []

    def save(label: str, name: str, audio: np.ndarray) -> None:
        path = out / label / f"{name}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, fit_window(audio), SAMPLE_RATE, subtype="PCM_16")
        written.append(path)

    for word in COMMANDS:
        for v in VOICES:
            save(word, f"{word}-{v.name}", synthesize(word, v))
    for word in UNKNOWN_WORDS:
        save("_unknown_", f"{word}-{VOICES[0].name}", synthesize(word, VOICES[0]))
    rng = np.random.default_rng(0)
    for i, level in enumerate((0.003, 0.02)):
        white = rng.standard_normal(SAMPLE_RATE)
        pink = np.cumsum(white)  # brown-ish: a rumble like room noise
        pink = (pink - pink.mean()) / (np.abs(pink).max() + 1e-9)
        save("_silence_", f"noise-{i}", (level * (0.5 * pink + 0.5 * white / 4)).astype(np.float32))
    return written


if __name__ == "__main__":
    for p in build(Path("audio_samples")):
        print(p)
