"""What an added word must not answer to: real speech of other words, by source, and synthetic near-names.

``bench-add-intent`` counts a false accept when the new student's top label for a 1 s window is the new
word. The windows, by source (``../shared/data``; folder names pick clips, never labels for training):

- ``gsc words``: every other Speech Commands word of the held-out speakers (the bench's original measure);
- ``digits``: the Free Spoken Digit Dataset, all 2,000 clips (no part of the student or add-intent learns
  from them);
- ``sentences``: the coffee orders, cut into 1 s windows of speech every 0.5 s;
- ``phrases``: the wake-word benchmark's "smart mirror" / "view glass" recordings, cut the same way;
- ``near-names``: the evaluation share of :func:`training.near_names.near_names` (names add-intent never
  trains on) in the positives' held-out voices; clips the teacher itself hears as the word are left out
  and counted (an invented spelling can be a homophone).

LibriSpeech is left out: add-intent learns from its windows, and it has no transcripts here to tell
whether a window holds the word.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, centre_on_energy, load_audio
from assistant.corpus import Clip, find_clips
from assistant.errors import AssistantError
from assistant.student import Student

NEAR_VOICES = 6
"""Held-out voices each evaluation near-name is said in."""


def _clip_windows(paths: list[Path], window: int) -> np.ndarray:
    xs = []
    for p in paths:
        try:
            xs.append(centre_on_energy(load_audio(p).samples, window))
        except AssistantError:
            continue
    return np.stack(xs) if xs else np.zeros((0, window), np.float32)


def _cut(paths: list[Path], window: int) -> np.ndarray:
    from ..pipeline import SPEECH_WINDOW_HOP_S
    from ..windows import speech_windows

    xs: list[np.ndarray] = []
    for p in paths:
        try:
            xs += speech_windows(load_audio(p).samples, window, int(SPEECH_WINDOW_HOP_S * SAMPLE_RATE), 10_000)
        except AssistantError:
            continue
    return np.stack(xs) if xs else np.zeros((0, window), np.float32)


def real_sources(data: Path, others: list[Clip], window: int, speech: dict[str, np.ndarray] | None = None
                 ) -> dict[str, np.ndarray]:
    """(N, window) float32 windows of real speech that is not the word, per source present in ``data``;
    ``speech``: :func:`speech_sources`, when already read (they are the same for every word)."""
    out = {"gsc words": _clip_windows([c.path for c in others], window),
           **(speech_sources(data, window) if speech is None else speech)}
    return {k: v for k, v in out.items() if len(v)}


def speech_sources(data: Path, window: int) -> dict[str, np.ndarray]:
    """The sources that do not depend on the word: digits, sentence windows, phrase windows."""
    out = {}
    if (data / "fsdd").is_dir():
        out["digits"] = _clip_windows([c.path for c in find_clips([data / "fsdd"])], window)
    if (data / "coffee_orders" / "clips").is_dir():
        out["sentences"] = _cut(sorted((data / "coffee_orders" / "clips").glob("*.flac")), window)
    if (data / "wakeword_phrases").is_dir():
        out["phrases"] = _cut(sorted((data / "wakeword_phrases").rglob("*.flac")), window)
    return out


def near_name_clips(word: str, tts_dir: Path, progress: bool) -> list[Clip]:
    """The evaluation near-names of ``word``, each in :data:`NEAR_VOICES` held-out voices (synthesised, cached)."""
    from tqdm import tqdm

    from ..add_intent_data import heldout_voice
    from ..near_names import near_names, split
    from ..synth import synthesize_cached, voice_mix

    held = [v for v in voice_mix(40, seed=7) if heldout_voice(Clip(Path(), f"tts:{v.name}", None, "tts"))]
    names = split(near_names(word))[1]
    jobs = [(n, v) for n in names for v in held[:NEAR_VOICES]]
    return [Clip(synthesize_cached(n, v, tts_dir), f"tts:{v.name}", n, "tts")
            for n, v in tqdm(jobs, desc="near-names", unit="clip", disable=not progress, dynamic_ncols=True)]


def near_name_windows(word: str, teacher, label_set, cache, tts_dir: Path, window: int,
                      progress: bool) -> tuple[np.ndarray, dict]:
    """Windows of the evaluation near-names the teacher does not hear as ``word``; and what was left out."""
    from ..label import label_clips

    clips = near_name_clips(word, tts_dir, progress)
    labels = label_clips(clips, teacher, label_set, cache, progress=progress).labels
    keep = [c for c in clips if str(c.path) in labels and labels[str(c.path)].top != word]
    same = sorted({c.folder_label or "" for c in clips if str(c.path) in labels and labels[str(c.path)].top == word})
    return _clip_windows([c.path for c in keep], window), {
        "names": sorted({c.folder_label or "" for c in clips}), "clips": len(clips),
        "heard_as_the_word_by_the_teacher": len(clips) - len(keep), "names_heard_as_the_word": same}


def false_accepts(student: Student, word: str, sources: dict[str, np.ndarray]) -> dict:
    """Per source and pooled: windows whose top label is ``word`` (``false_accepts``), and of those, the
    ones whose probability also clears the word's instant-answer bar (``at_bar``: the student alone would
    answer; below it the assistant asks the teacher)."""
    from assistant.loop import LoopConfig, student_decision, word_bars

    idx = student.labels.index(word)
    bar = word_bars(student).get(word) or student_decision(student, LoopConfig()).accept
    win = student.frontend.window_samples
    out: dict = {}
    for name, x in sources.items():
        x = np.stack([centre_on_energy(w, win) for w in x]) if x.shape[1] != win else x
        p = np.concatenate([student.probs(x[i:i + 256]) for i in range(0, len(x), 256)])
        top = p.argmax(1) == idx
        n, at_bar = int(top.sum()), int((top & (p[:, idx] >= bar)).sum())
        out[name] = {"false_accepts": n, "at_bar": at_bar, "windows": len(x), "rate": n / len(x), "bar": bar}
    def total(vs: list[dict]) -> dict:
        fa, n = sum(v["false_accepts"] for v in vs), sum(v["windows"] for v in vs)
        return {"false_accepts": fa, "at_bar": sum(v["at_bar"] for v in vs), "windows": n, "rate": fa / n if n else 0.0}

    return {"by_source": out, "real": total([v for k, v in out.items() if k != "near-names"]),
            "all": total(list(out.values()))}
