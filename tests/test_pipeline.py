"""Distillation resumes after an interruption; the pipeline runs end to end from PyPI parts alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.frontend import FrontEnd
from assistant.registry import PACKAGE_ROOT, Registry, writable_registry
from assistant.student import Student
from training.augment import NoiseBank, augment, change_speed, reverb, shift, silence
from training.dataset import UNKNOWN_WORDS, DistillSet
from training.distill import DistillConfig, train

pytestmark = pytest.mark.slow


def _toy_set(n: int = 24) -> DistillSet:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    x, soft = [], []
    for i in range(n):
        k = i % 3
        x.append((0.3 * np.sin(2 * np.pi * (300 + 500 * k) * t) + 0.01 * rng.standard_normal(16000)).astype(np.float32))
        p = np.full(3, 0.05, np.float32)
        p[k] = 0.9
        soft.append(p)
    return DistillSet(("a", "b", "c"), np.stack(x), np.stack(soft), ["toy"] * n, [str(i) for i in range(n)])


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_training_resumes_where_it_stopped(tmp_path: Path, ema: float) -> None:
    """Stopped after 2 of 3 epochs and resumed == 3 epochs in one go, loss for loss (with and without a
    moving average of the weights, which is checkpointed too)."""
    data = _toy_set()
    cfg = DistillConfig(epochs=3, batch_size=8, width=8, threads=1, ema=ema)
    _, part = train(data, data, tmp_path / "a", cfg, NoiseBank(None), FrontEnd(), progress=False, stop_after=2)
    assert len(part) == 2 and (tmp_path / "a" / "checkpoint.pt").is_file()
    _, resumed = train(data, data, tmp_path / "a", cfg, NoiseBank(None), FrontEnd(), progress=False)
    _, whole = train(data, data, tmp_path / "b", cfg, NoiseBank(None), FrontEnd(), progress=False)
    assert len(resumed) == 3 and resumed[:2] == part
    assert [round(h["loss"], 5) for h in resumed] == [round(h["loss"], 5) for h in whole]
    assert [h["val_agreement"] for h in resumed] == [h["val_agreement"] for h in whole]
    assert json.loads((tmp_path / "a" / "config.json").read_text())["parameters"] > 0


def test_a_run_is_not_resumed_with_other_settings(tmp_path: Path) -> None:
    """A run directory started with 3 epochs refuses 4 (one clear error), keeping its checkpoint and config."""
    from dataclasses import replace

    from assistant.errors import AssistantError

    data = _toy_set(12)
    cfg = DistillConfig(epochs=3, batch_size=8, width=8, threads=1)
    train(data, data, tmp_path, cfg, NoiseBank(None), FrontEnd(), progress=False, stop_after=1)
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(AssistantError, match=r"other settings \(distill.epochs\).*new run directory"):
        train(data, data, tmp_path, replace(cfg, epochs=4), NoiseBank(None), FrontEnd(), progress=False)
    assert (tmp_path / "config.json").read_text() == before
    config = json.loads(before)
    del config["distill"]["ema"]  # a run started before a setting existed, that setting left off: resumes
    (tmp_path / "config.json").write_text(json.dumps(config))
    _, history = train(data, data, tmp_path, replace(cfg, threads=2), NoiseBank(None), FrontEnd(), progress=False)
    assert len(history) == 3  # another thread count resumes


def test_augmented_views_are_fixed_files_without_human_labels(tmp_path: Path) -> None:
    """Copies are window-long, differ from their source and from each other, keep the speaker, carry no
    folder label, and a second call (a resumed run) finds the same files instead of writing new ones."""
    import soundfile as sf

    from assistant.corpus import Clip
    from training.views import augmented_views

    t = np.arange(12000) / 16000
    src = tmp_path / "yes" / "a.flac"
    src.parent.mkdir()
    sf.write(src, 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    clip = Clip(src, "spk1", "yes", "gsc")
    views = augmented_views([clip], 3, 16000, NoiseBank(None), tmp_path / "views", progress=False)
    assert len(views) == 3 and {v.speaker for v in views} == {"spk1"} and {v.folder_label for v in views} == {None}
    audio = [sf.read(v.path, dtype="float32")[0] for v in views]
    assert all(a.size == 16000 for a in audio)
    assert not np.allclose(audio[0], audio[1])
    stamps = [v.path.stat().st_mtime_ns for v in views]
    again = augmented_views([clip], 3, 16000, NoiseBank(None), tmp_path / "views", progress=False)
    assert [v.path for v in again] == [v.path for v in views]
    assert [v.path.stat().st_mtime_ns for v in again] == stamps


def test_a_share_of_the_speakers_keeps_whole_speakers_and_nests() -> None:
    """``--real-speakers``: a speaker's clips stay together, a smaller share is inside a larger one, and the
    share is about the fraction asked for."""
    from assistant.corpus import Clip, speaker_subset

    clips = [Clip(Path(f"{s}_{k}.flac"), f"gsc:{s:08x}", None, "speech_commands") for s in range(400) for k in range(3)]
    assert speaker_subset(clips, 1.0) == clips
    half, quarter = speaker_subset(clips, 0.5), speaker_subset(clips, 0.25)
    speakers = {c.speaker for c in half}
    assert [c for c in clips if c.speaker in speakers] == half
    assert set(quarter) <= set(half)
    assert 150 <= len(speakers) <= 250 and 60 <= len({c.speaker for c in quarter}) <= 140


def test_augmentations_keep_length_and_range() -> None:
    rng = np.random.default_rng(0)
    x = (0.5 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    for y in (augment(x, rng, NoiseBank(None)), change_speed(x, 1.1), change_speed(x, 0.9), reverb(x, rng),
              shift(x, 800), shift(x, -800), silence(rng, NoiseBank(None))):
        assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() <= 1.0


def test_end_aligned_shift_puts_the_word_at_the_window_end() -> None:
    from training.augment import AugmentConfig, end_aligned_shift
    from training.samples import speech_bounds

    x = np.zeros(16000, np.float32)
    x[4000:9000] = 0.5 * np.sin(np.arange(5000) / 3)  # a "word" from 0.25 to 0.56 s
    y = shift(x, end_aligned_shift(x, 0.05))
    start, end = speech_bounds(y, -25.0)
    assert abs(end - (16000 - 800)) <= 160 and abs((end - start) - 5000) <= 320  # ends 50 ms before the end, whole
    late = np.zeros(16000, np.float32)
    late[1000:15900] = 0.5  # a word longer than the room left: never cut at its start
    assert speech_bounds(shift(late, end_aligned_shift(late, 0.1)), -25.0)[0] == 0
    always = AugmentConfig(p_end=1.0, p_noise=0.0, p_speed=0.0, p_reverb=0.0, gain_db=(0.0, 0.0))
    assert speech_bounds(augment(x, np.random.default_rng(1), NoiseBank(None), always), -25.0)[1] >= 16000 - 1600 - 160


def test_band_limit_removes_only_what_lies_above_the_cutoff() -> None:
    from training.augment import AugmentConfig, band_limit

    t = np.arange(16000) / 16000
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 5000 * t)
    y = band_limit((0.4 * (low + high)).astype(np.float32), 4000.0)
    assert y.shape == (16000,) and np.allclose(y, 0.4 * low, atol=1e-4)
    always = AugmentConfig(p_band=1.0, p_noise=0.0, p_speed=0.0, p_reverb=0.0, shift_s=0.0, gain_db=(0.0, 0.0))
    above = (0.4 * np.sin(2 * np.pi * 7000 * t)).astype(np.float32)  # above every cutoff drawn (3.4-6 kHz)
    assert np.abs(augment(above, np.random.default_rng(0), NoiseBank(None), always)).max() < 1e-3


def test_real_noise_folder(shared_data: Path) -> None:
    bank = NoiseBank(shared_data / "noise")
    assert len(bank.recordings) >= 5
    assert bank.sample(np.random.default_rng(0), 16000).shape == (16000,)


def test_pipeline_end_to_end_from_pypi_parts(tmp_path: Path) -> None:
    """TTS + bundled teacher + generated noise -> a registered, loadable student (a tiny run)."""
    out = subprocess.run([sys.executable, "-m", "training.cli", "pipeline", "--no-real", "--epochs", "1",
                          "--voices", "2", "--kokoro", "1", "--run-dir", str(tmp_path / "run"), "--registry", str(tmp_path / "models"),
                          "--report-dir", str(tmp_path / "reports"), "--cache", str(tmp_path / "labels.sqlite"),
                          "--json", str(tmp_path / "p.json"), "--quiet"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((tmp_path / "p.json").read_text())
    student = Student(summary["model_dir"])
    assert student.labels[-2:] == ("_unknown_", "_silence_")
    manifest = json.loads((Path(summary["model_dir"]) / "manifest.json").read_text())
    assert manifest["data"]["human_labels_used_for_training"] is False
    assert manifest["data"]["teacher"].startswith("whisper-tiny.en")
    assert "decision" not in manifest  # no real audio to choose its bars on: the loop's own bars apply
    # 2 Piper/espeak-ng voices per command, 2 per other word, and one Kokoro blend per command
    assert manifest["data"]["kokoro_voices"] == {"per_command": 1, "per_other_word": 0}
    assert summary["sources"]["tts"] == 2 * 10 + 2 * len(UNKNOWN_WORDS) + 10
    assert (tmp_path / "models" / "speech_commands" / "CURRENT").read_text().strip() == "v1"
    assert summary["promotion"] == {"promoted": True, "reason": "nothing in force to compare with"}
    # the same run (resumed from its finished checkpoint) into a registry where the shipped student is in
    # force: a synthetic-only student never replaces one that learnt from real recordings
    shipped = writable_registry(tmp_path / "user-models")
    again = subprocess.run([sys.executable, "-m", "training.cli", "pipeline", "--no-real", "--epochs", "1",
                            "--voices", "2", "--kokoro", "1", "--run-dir", str(tmp_path / "run"),
                            "--registry", str(shipped.root), "--report-dir", str(tmp_path / "reports"),
                            "--cache", str(tmp_path / "labels.sqlite"), "--json", str(tmp_path / "p2.json"), "--quiet"],
                           capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads((tmp_path / "p2.json").read_text())
    assert second["promotion"]["promoted"] is False and "synthetic speech only" in second["promotion"]["reason"]
    assert "NOT promoted" in again.stdout
    assert f"training promote speech_commands {Path(second['model_dir']).name} --registry {shipped.root}'" in again.stdout
    assert shipped.current("speech_commands") == Registry(PACKAGE_ROOT).current("speech_commands")
    assert Path(second["model_dir"]).name in shipped.versions("speech_commands")


def test_a_new_student_is_promoted_unless_it_is_worse_or_loses_an_intent() -> None:
    from training.pipeline import PROMOTE_SLACK, should_promote

    assert should_promote(0.5, None, []) == (True, "nothing in force to compare with")
    assert should_promote(0.90, 0.90, [])[0] and should_promote(0.90 - PROMOTE_SLACK / 2, 0.90, [])[0]
    ok, why = should_promote(0.62, 0.91, [])
    assert not ok and "62.0%" in why and "91.0%" in why
    ok, why = should_promote(0.99, 0.90, ["marvin"])
    assert not ok and "marvin" in why
    ok, why = should_promote(0.99, 0.90, [], new_real=False)  # its validation clips are its training voices
    assert not ok and "synthetic speech only" in why
    assert should_promote(0.95, 0.90, [], new_real=False, current_real=False)[0]
    assert should_promote(0.95, 0.90, [], new_real=True, current_real=False)[0]


def test_kokoro_blends_default_to_none_beside_real_audio_and_some_without() -> None:
    from training.pipeline import SYNTHETIC_ONLY_KOKORO, kokoro_blends

    assert kokoro_blends(None, real_data=True) == 0
    assert kokoro_blends(None, real_data=False) == SYNTHETIC_ONLY_KOKORO > 0
    assert kokoro_blends(3, real_data=True) == 3 and kokoro_blends(0, real_data=False) == 0
    with pytest.raises(ValueError, match="--kokoro"):
        kokoro_blends(-1, real_data=False)


class _ContentTeacher:
    """A stand-in teacher whose answer depends on the audio alone (its loudness picks the class): enough
    to show which clips training sees, without loading Whisper."""

    name, id, backend = "content", "content-teacher", "none"

    def label_batch(self, audios, label_set, *, with_transcript: bool = True):
        from assistant.teacher.base import TeacherLabel, Transcript

        out = []
        for a in audios:
            k = int(np.abs(a).sum() * 1000) % len(label_set.labels)
            logp = np.full(len(label_set.labels), np.log(0.1 / (len(label_set.labels) - 1)))
            logp[k] = np.log(0.9)
            out.append(TeacherLabel(label_set.labels, logp, Transcript("", 0.0, 0.0), 0.0, {}))
        return out


def _speech_commands_folder(root: Path, names: list[str], rng: np.random.Generator) -> None:
    from training.synth import save_flac

    for i in range(12):
        word = names[i % len(names)]
        save_flac(root / "gsc_mini_train" / word / f"{i:08x}_nohash_0.flac",
                  (rng.standard_normal(16000) * 0.01 * (1 + i)).astype(np.float32))


def test_folder_names_never_reach_the_training_set(tmp_path: Path) -> None:
    """The same recordings under shuffled folder names give the same distillation set: training reads the
    teacher's labels, never a folder's name."""
    from assistant.labelset import load_labelset
    from training.cache import LabelCache
    from training.dataset import from_labels
    from training.label import label_clips
    from training.pipeline import real_corpus

    label_set = load_labelset("speech_commands")
    sets = []
    for k, names in enumerate((["yes", "no", "up"], ["stop", "go", "left"])):
        data = tmp_path / f"data{k}"
        _speech_commands_folder(data, names, np.random.default_rng(0))
        corpus = real_corpus(data)
        clips = corpus.train["gsc_mini_train"] + corpus.val
        labels = label_clips(clips, _ContentTeacher(), label_set, LabelCache(tmp_path / f"c{k}.sqlite"),
                             progress=False).labels
        ds = from_labels(sorted(clips, key=lambda c: c.path.name), labels, label_set, 16000, "real")
        sets.append(ds)
        assert corpus.counts() == {"gsc_mini_train": len(corpus.train["gsc_mini_train"])}
    assert len(sets[0]) >= 6  # the speakers hashed to "test" are left out of a learning folder
    np.testing.assert_array_equal(sets[0].x, sets[1].x)
    np.testing.assert_array_equal(sets[0].soft, sets[1].soft)


def test_every_real_folder_present_is_used_and_its_list_files_honoured(tmp_path: Path) -> None:
    from training.pipeline import SPEECH_FOLDERS, real_corpus
    from training.synth import save_flac

    data = tmp_path / "data"
    _speech_commands_folder(data, ["yes"], np.random.default_rng(1))
    (data / "gsc_mini_train" / "validation_list.txt").write_text("yes/00000003_nohash_0.wav\n")
    save_flac(data / "librispeech_snippets" / "19-198-0001.flac", np.zeros(32000, np.float32))
    corpus = real_corpus(data)
    assert "00000003" not in {c.speaker[4:] for c in corpus.train["gsc_mini_train"]}
    assert [c.path.name for c in corpus.val] == ["00000003_nohash_0.flac"]
    assert set(corpus.speech) == {"librispeech_snippets"} and set(corpus.speech) <= set(SPEECH_FOLDERS)
    assert corpus.test == []  # evaluation speakers come from gsc_v2_test_dev alone


def test_speech_windows_keep_speech_and_leave_pauses() -> None:
    from training.windows import speech_windows

    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(16000), rng.standard_normal(24000) * 0.1, np.zeros(16000)]).astype(np.float32)
    wins = speech_windows(audio, 16000, 8000, most=6)
    assert wins and all(w.shape == (16000,) for w in wins)
    assert all(np.sqrt(np.mean(w ** 2)) > 0.01 for w in wins)  # no window of pause alone
    assert len(speech_windows(audio, 16000, 8000, most=1)) == 1
    assert speech_windows(audio[:8000], 16000, 8000, most=3)[0].shape == (16000,)  # short: padded


def test_cut_windows_are_fixed_files_that_a_rerun_finds(tmp_path: Path) -> None:
    from training.corpus import Clip
    from training.synth import save_flac
    from training.windows import cut_windows

    src = tmp_path / "long.flac"
    save_flac(src, (np.random.default_rng(0).standard_normal(16000 * 4) * 0.1).astype(np.float32))
    clip = Clip(src, "file:long", "should_not_travel", "folder")
    first = cut_windows([clip], 16000, 8000, 3, tmp_path / "w", progress=False)
    again = cut_windows([clip], 16000, 8000, 3, tmp_path / "w", progress=False)
    assert len(first) == 3 and first == again
    assert all(c.folder_label is None and c.speaker == "file:long" and c.path.is_file() for c in first)


def test_balanced_drawing_gives_every_teacher_class_an_equal_share() -> None:
    from training.distill import draw_weights

    labels = ("yes", "on", "_unknown_")
    soft = np.eye(3, dtype=np.float32)[[0] * 80 + [1] * 10 + [2] * 10]
    w = draw_weights(soft, labels, balance=1.0)
    share = [w[soft.argmax(1) == k].sum() for k in range(3)]
    np.testing.assert_allclose(share, [1 / 3] * 3)
    np.testing.assert_allclose(draw_weights(soft, labels, balance=0.0), 1 / 100)  # as the data has them
    w = draw_weights(soft, labels, balance=1.0, unknown_weight=2.0)
    np.testing.assert_allclose([w[soft.argmax(1) == k].sum() for k in range(3)], [0.25, 0.25, 0.5])


def test_the_real_audio_recipe_applies_only_beside_real_audio_and_flags_win() -> None:
    from training.distill import DistillConfig
    from training.pipeline import REAL_RECIPE, recipe

    assert recipe(True) == REAL_RECIPE
    assert recipe(False) == {"epochs": DistillConfig.epochs, "epoch_size": 0, "balance": 0.0, "unknown_weight": 1.0,
                             "blocks": (2, 2, 2, 2)}
    assert recipe(True, epochs=3, balance=0.0)["epochs"] == 3 and recipe(True, balance=0.0)["balance"] == 0.0
    assert recipe(True)["blocks"] == (3, 3, 3, 3) and recipe(True, blocks=(2, 2, 2, 2))["blocks"] == (2, 2, 2, 2)


def test_the_manifest_names_every_real_folder_and_how_much_of_it(tmp_path: Path) -> None:
    from training.pipeline import real_corpus
    from training.synth import save_flac
    from training.windows import cut_windows

    data = tmp_path / "data"
    _speech_commands_folder(data, ["yes", "no"], np.random.default_rng(2))
    save_flac(data / "wakeword_phrases" / "smart_mirror" / "a.flac", np.ones(48000, np.float32) * 0.1)
    corpus = real_corpus(data)
    corpus.train["wakeword_phrases"] = cut_windows(corpus.speech["wakeword_phrases"], 16000, 8000, 2,
                                                   tmp_path / "w", progress=False)
    got = corpus.provenance(data)
    n = len(corpus.train["gsc_mini_train"])
    assert got["real_data"] == {str(data / "gsc_mini_train"): f"{n} clips of its train speakers",
                                str(data / "wakeword_phrases"): "2 one-second windows of 1 recordings"}
    assert got["real_validation"].endswith("calib speakers of gsc_mini_train")


def test_running_speech_windows_are_balanced_as_a_group_of_their_own() -> None:
    """Thousands of speech windows must not take the other words' share of ``_unknown_``'s draws."""
    from training.distill import draw_weights

    labels = ("yes", "_unknown_")
    soft = np.eye(2, dtype=np.float32)[[0] * 50 + [1] * 10 + [1] * 1000]
    sources = ["real"] * 60 + ["speech"] * 1000
    w = draw_weights(soft, labels, balance=1.0, sources=sources)
    np.testing.assert_allclose([w[:50].sum(), w[50:60].sum(), w[60:].sum()], [1 / 3] * 3)
    w = draw_weights(soft, labels, balance=1.0, unknown_weight=2.0, sources=sources)
    np.testing.assert_allclose([w[:50].sum(), w[50:60].sum(), w[60:].sum()], [0.25, 0.5, 0.25])


def test_clips_the_teacher_is_unsure_of_are_never_drawn_and_their_class_keeps_its_share() -> None:
    from training.distill import draw_weights

    labels = ("yes", "on", "_unknown_")
    sure, unsure = np.array([0.9, 0.05, 0.05]), np.array([0.4, 0.35, 0.25])
    soft = np.stack([sure] * 40 + [unsure] * 40 + [np.roll(sure, 1)] * 10 + [np.roll(sure, 2)] * 10).astype(np.float32)
    w = draw_weights(soft, labels, balance=1.0, min_confidence=0.5)
    assert (w[40:80] == 0).all() and (w[:40] > 0).all()
    np.testing.assert_allclose([w[:40].sum(), w[80:90].sum(), w[90:].sum()], [1 / 3] * 3)
    np.testing.assert_allclose(draw_weights(soft, labels, balance=1.0), draw_weights(soft, labels, 1.0, min_confidence=0))
    from assistant.errors import AssistantError

    with pytest.raises(AssistantError, match="teacher confidence"):
        draw_weights(soft, labels, balance=1.0, min_confidence=0.95)
