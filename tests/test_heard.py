"""``--keep-heard``: short deferred segments and the teacher's transcript of each, kept on the device, become
real positives of the word the next ``training add-intent`` learns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import AssistantError
from assistant.heard import INDEX, KEEP_MAX_S, HeardStore, read_heard


def _tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_short_segments_with_a_transcript_are_kept_with_it(tmp_path: Path) -> None:
    store = HeardStore(tmp_path / "heard")
    first = store.keep(_tone(1.0), "  Marvin.  ")
    assert first is not None and first.suffix == ".flac"
    assert store.keep(_tone(1.2), "turn it off") is not None
    assert store.keep(_tone(KEEP_MAX_S + 0.5), "a long request") is None  # a request, not a word
    assert store.keep(_tone(0.05), "blip") is None
    assert store.keep(_tone(1.0), "   ") is None  # the teacher heard nothing
    bad = _tone(1.0)
    bad[10] = np.nan
    assert store.keep(bad, "marvin") is None
    assert store.kept == 2
    kept = read_heard(store.folder)
    assert [t for _, t in kept] == ["Marvin.", "turn it off"] and kept[0][0] == first
    import soundfile as sf

    audio, rate = sf.read(first)
    assert rate == 16000 and audio.ndim == 1 and abs(audio.size - 16000) <= 1


def test_a_broken_index_line_or_a_deleted_clip_is_skipped(tmp_path: Path) -> None:
    store = HeardStore(tmp_path)
    a = store.keep(_tone(1.0), "marvin")
    b = store.keep(_tone(1.0), "sheila")
    assert a is not None and b is not None
    with open(tmp_path / INDEX, "a") as f:
        f.write('{"file": "../outside.flac", "transcript": "x"}\n{"file": "cut by a k')
    b.unlink()
    assert read_heard(tmp_path) == [(a, "marvin")]
    assert read_heard(tmp_path / "absent") == []


def test_a_failed_write_costs_the_clip_and_is_reported_once(tmp_path: Path) -> None:
    store = HeardStore(tmp_path)
    (tmp_path / INDEX).mkdir()  # the index cannot be appended to
    assert store.keep(_tone(1.0), "marvin") is None
    assert store.failed and str(tmp_path) in store.failed and store.kept == 0
    assert not list(tmp_path.glob("*.flac"))  # no clip without its line
    first = store.failed
    store.keep(_tone(1.0), "marvin")
    assert store.failed == first


def test_an_unusable_folder_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(AssistantError, match="--keep-heard DIR"):
        HeardStore(tmp_path / "file" / "heard")


def test_add_intent_reads_only_the_segments_heard_as_its_phrase(tmp_path: Path, monkeypatch) -> None:
    from training.add_intent_data import heard_clips

    store = HeardStore(tmp_path / "heard")
    store.keep(_tone(1.0), "Marvin!")
    store.keep(_tone(1.0), "marvin, please")
    store.keep(_tone(1.0), "stop")
    clips = heard_clips(store.folder, ["marvin"])
    assert len(clips) == 1 and clips[0].dataset == "heard" and clips[0].folder_label is None
    assert heard_clips("", ["marvin"]) == [] and heard_clips(tmp_path / "absent", ["marvin"]) == []
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    HeardStore(tmp_path / "xdg" / "voice-assistant" / "heard").keep(_tone(1.0), "marvin")
    assert len(heard_clips(None, ["marvin"])) == 1  # None: the default folder of `--keep-heard`


def _deferred_word_clips(shared_data: Path, word: str, n: int) -> list[Path]:
    return sorted((shared_data / "gsc_v2_test_dev" / "_unknown_").glob(f"{word}_*.flac"))[:n]


@pytest.mark.slow
def test_the_loop_keeps_what_the_teacher_heard_and_add_intent_learns_it(shared_data: Path, ct2_teacher, labelset,
                                                                         tmp_path: Path) -> None:
    """The shipped student defers real "marvin"s (a word it lacks); the real teacher hears them; the kept
    segments are what the teacher labels "marvin" over the grown label set: positives for add-intent."""
    from assistant.audio import load_audio
    from assistant.intents import IntentSet
    from assistant.loop import Assistant
    from assistant.registry import PACKAGE_ROOT, Registry
    from assistant.student import Student
    from training.add_intent import with_label
    from training.add_intent_data import heard_clips, teacher_found
    from training.cache import LabelCache

    student = Student(Registry(PACKAGE_ROOT).path("speech_commands"), threads=1)
    store = HeardStore(tmp_path / "heard")
    transcripts = []
    for path in _deferred_word_clips(shared_data, "marvin", 6):
        bot = Assistant(student, IntentSet.load(), ct2_teacher.hear, keep=store.keep)
        audio = np.concatenate([np.zeros(8000, np.float32), load_audio(path).samples, np.zeros(16000, np.float32)])
        transcripts += [e.transcript for e in bot.feed_all(audio) if e.transcript]
    kept = read_heard(store.folder)
    assert kept and len(kept) == len([t for t in transcripts if t.strip()])
    assert [t for _, t in kept] == [" ".join(t.split()) for t in transcripts if t.strip()]
    found = heard_clips(store.folder, ["marvin"])
    assert found, f"the teacher heard {[t for _, t in kept]}, never 'marvin'"
    new = with_label(labelset, "marvin", ["marvin"])
    learnt, labels = teacher_found(found, ct2_teacher, new, "marvin", LabelCache(tmp_path / "labels.sqlite"))
    assert learnt and all(labels[str(c.path)].top == "marvin" for c in learnt)


@pytest.mark.slow
def test_assistant_run_keep_heard_writes_the_segments_it_deferred(shared_data: Path, tmp_path: Path) -> None:
    clips = [str(p) for p in _deferred_word_clips(shared_data, "marvin", 4)]
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "run", *clips, "--threads", "2",
                          "--keep-heard", str(tmp_path / "heard"), "--json", str(tmp_path / "d.json")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    records = json.loads((tmp_path / "d.json").read_text())
    heard = [" ".join(r["transcript"].split()) for r in records if r.get("transcript") and r["transcript"].strip()]
    kept = read_heard(tmp_path / "heard")
    assert kept and [t for _, t in kept] == heard
    assert f"{len(kept)} segments kept in {tmp_path / 'heard'}" in out.stdout
