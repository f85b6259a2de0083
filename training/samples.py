"""Build ``audio_samples/``: the small synthetic set the project ships and its main job runs on:
``commands/<label>/*.flac`` (one word per clip) and ``session/`` (a scripted multi-utterance recording)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, fit_window

from .synth import Voice, synthesize

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




SESSION = (  # (what is said, the intent the default home domain answers it with)
    ("yes", "Confirm"),
    ("turn on the kitchen lights", "HassTurnOn"),
    ("up", "HassSetVolumeRelative"),
    ("what time is it", "HassGetCurrentTime"),
    ("stop", "HassMediaPause"),
    ("set a timer for five minutes", "HassStartTimer"),
    ("right", "HassMediaNext"),
    ("switch off the fan", "HassTurnOff"),
    ("no", "Deny"),
    ("left", "HassMediaPrevious"),
)
SESSION_VOICE = Voice("piper-joe", 1.1, 0.5)


def speech_bounds(audio: np.ndarray, threshold_db: float = -35.0) -> tuple[int, int]:
    """First and last sample of the loud part of a clip (10 ms frames, relative to its peak)."""
    frame = SAMPLE_RATE // 100
    n = max(1, audio.size // frame)
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > threshold_db)[0]
    return int(loud[0] * frame), int((loud[-1] + 1) * frame)


def build_session(out: Path, gap_s: float = 1.6, seed: int = 0) -> tuple[Path, Path]:
    """A scripted session: commands and longer queries with pauses, over quiet room noise.

    Writes ``session.flac`` and ``session.json`` (for each utterance: text, expected intent, where its
    speech starts and ends in seconds) so benchmarks can time answers from the end of each utterance.
    """
    import json

    import soundfile as sf

    rng = np.random.default_rng(seed)
    gap = int(gap_s * SAMPLE_RATE)
    parts, script, pos = [np.zeros(gap, np.float32)], [], gap
    for text, intent in SESSION:
        audio = synthesize(text, SESSION_VOICE)
        s, e = speech_bounds(audio)
        script.append({"text": text, "intent": intent, "start_s": (pos + s) / SAMPLE_RATE,
                       "end_s": (pos + e) / SAMPLE_RATE, "command": " " not in text})
        parts += [audio, np.zeros(gap, np.float32)]
        pos += audio.size + gap
    session = np.concatenate(parts)
    session = session + rng.standard_normal(session.size).astype(np.float32) * 0.002  # quiet room
    out.mkdir(parents=True, exist_ok=True)
    wav, meta = out / "session.flac", out / "session.json"
    sf.write(wav, session, SAMPLE_RATE, subtype="PCM_16")
    meta.write_text(json.dumps({"voice": SESSION_VOICE.name, "seconds": session.size / SAMPLE_RATE,
                                "utterances": script}, indent=2) + "\n")
    return wav, meta


if __name__ == "__main__":
    for p in build(Path("audio_samples") / "commands") + list(build_session(Path("audio_samples") / "session")):
        print(p)
