"""``training add-intent`` / ``remove-intent`` / ``intents`` and the running assistant picking up a new version.

One real (small) add-intent run is shared by the module: it is first killed mid-training (the registry must
stay on the shipped version), then rerun to completion (it resumes from its checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.intents import IntentSet
from assistant.labelset import load_labelset
from assistant.registry import PACKAGE_ROOT, Registry, Watcher
from assistant.student import Student

pytestmark = pytest.mark.slow

SHIPPED = Registry(PACKAGE_ROOT).current("speech_commands")
"""The shipped version: an empty registry is seeded with it, and add-intent makes the next one."""
ADDED = f"v{int(SHIPPED[1:]) + 1}"
WINDOWS = (np.random.default_rng(0).standard_normal((8, 16000)) * 0.1).astype(np.float32)


def _add_cmd(reg: Path, tmp: Path) -> list[str]:
    return [sys.executable, "-m", "training.cli", "add-intent", "marvin", "--registry", str(reg), "--voices", "4",
            "--epochs", "3", "--data", str(tmp / "no-real-data"), "--cache", str(tmp / "labels.sqlite"),
            "--run-dir", str(tmp / "runs"), "--response", "Marvin here.", "--json", str(tmp / "summary.json"),
            "--near-names", "1", "--quiet"]


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("add")
    reg = tmp / "models"
    # interrupted: SIGKILL once the first epoch's checkpoint exists
    proc = subprocess.Popen(_add_cmd(reg, tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 400
    while not list((tmp / "runs").glob("*/checkpoint.pt")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after_kill = {"current": Registry(reg).current("speech_commands"), "versions": Registry(reg).versions("speech_commands")}
    # rerun: resumes and finishes
    done = subprocess.run(_add_cmd(reg, tmp), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    history = json.loads(next((tmp / "runs").glob("*/history.json")).read_text())
    return {"reg": reg, "tmp": tmp, "after_kill": after_kill, "stdout": done.stdout, "history": history,
            "summary": json.loads((tmp / "summary.json").read_text())}


def test_near_names_are_teacher_labelled_negatives(added: dict) -> None:
    """Names one or two phonemes from "marvin" (martin, margin, …) are synthesised, labelled by the teacher
    and trained on; the manifest says how many and how many the teacher heard as the word itself."""
    from training.near_names import near_names, split

    near = added["summary"]["rehearsal"]["near_names"]
    # one voice each; those the teacher hears as "marvin" itself are left out (a homophone is no negative)
    assert near["clips"] + near["heard_as_the_phrase"] == len(split(near_names("marvin"))[0])
    assert near["clips"] > 0
    manifest = json.loads((Path(added["summary"]["model_dir"]) / "manifest.json").read_text())
    assert manifest["data"]["added"]["rehearsal"]["near_names"] == near


def test_interrupted_add_intent_leaves_the_previous_version(added: dict) -> None:
    assert added["after_kill"] == {"current": SHIPPED, "versions": [SHIPPED]}
    assert [h["epoch"] for h in added["history"]] == [1, 2, 3]  # resumed, not restarted nor repeated


def test_add_intent_promotes_a_self_describing_version(added: dict) -> None:
    reg = Registry(added["reg"])
    assert reg.current("speech_commands") == ADDED
    s = Student(reg.path("speech_commands"))
    assert s.labels[-3:] == ("marvin", "_unknown_", "_silence_")
    extra = s.manifest.extra
    assert extra["parent"] == SHIPPED and extra["intents"]["marvin"]["response"] == "Marvin here."
    assert extra["intents"]["marvin"]["accept"] is None  # no bar of its own: the student's, as for every word
    assert extra.get("decision") == Student(Registry(PACKAGE_ROOT).path("speech_commands")).manifest.extra.get("decision")
    assert extra["labelset"]["labels"]["marvin"] == ["marvin"]
    assert extra["data"]["added"]["human_labels_used_for_training"] is False
    summary = added["summary"]
    assert summary["kept"] + summary["dropped"] == 4 and summary["rehearsal"]["clips"] > 100
    out = subprocess.run([sys.executable, "-m", "training.cli", "intents", "--registry", str(added["reg"])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "marvin" in out.stdout and "added: 'marvin'" in out.stdout


def test_new_intent_reaches_the_running_pipeline(added: dict) -> None:
    from assistant.commands.loop import swap_student
    from assistant.loop import Assistant

    reg = Registry(added["reg"])
    old = Student(reg.path("speech_commands", SHIPPED))
    bot = Assistant(old, IntentSet.load(), None)
    reg.promote("speech_commands", SHIPPED)
    watcher = Watcher("speech_commands", added["reg"], every_s=0)
    assert watcher.poll() is None
    reg.promote("speech_commands", ADDED)  # as add-intent does while the assistant runs
    new_dir = watcher.poll()
    assert new_dir == added["reg"] / "speech_commands" / ADDED
    swap_student(bot, new_dir, "home")
    bot.feed(np.zeros(1600, np.float32))  # the swap lands at the next hop outside speech
    assert "marvin" in bot.student.labels and bot.decider.labels == bot.student.labels
    assert bot.decider.accept[bot.student.labels.index("marvin")] == bot.decision.accept  # the student's bars
    assert bot.decider.instant[bot.student.labels.index("marvin")] == bot.decision.instant  # pause wait too
    match = bot.intents.from_label("marvin")
    assert match is not None and match.intent == "Marvin" and match.response == "Marvin here."
    from assistant.handlers import Home, answer

    assert answer(match, Home()) == "Marvin here."
    assert bot.intents.from_text("Marvin!").intent == "Marvin"  # deferrals know it too


def test_remove_intent_restores_the_old_outputs(added: dict) -> None:
    reg = Registry(added["reg"])
    reg.promote("speech_commands", ADDED)
    out = subprocess.run([sys.executable, "-m", "training.cli", "remove-intent", "marvin", "--registry",
                          str(added["reg"])], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert reg.current("speech_commands") == SHIPPED
    shipped = Student(Registry().path("speech_commands"))
    np.testing.assert_array_equal(Student(reg.path("speech_commands")).logits(WINDOWS), shipped.logits(WINDOWS))
    again = subprocess.run([sys.executable, "-m", "training.cli", "remove-intent", "marvin", "--registry",
                            str(added["reg"])], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "not one of the student's labels" in again.stderr
    assert "Traceback" not in again.stderr
    reg.promote("speech_commands", ADDED)


def test_head_surgery_keeps_the_other_outputs(added: dict) -> None:
    import torch

    from training.add_intent import grow_head, shrink_head
    from training.model import load_dir

    new_dir = added["reg"] / "speech_commands" / ADDED
    net = load_dir(new_dir).eval()
    labels = Student(new_dir).labels
    old = tuple(l for l in labels if l != "marvin")
    small = shrink_head(net, labels, "marvin").eval()
    big = grow_head(small, old, old + ("sheila",)).eval()
    x = torch.from_numpy(WINDOWS)
    with torch.inference_mode():
        full, cut, grown = net(x), small(x), big(x)
    keep = [labels.index(l) for l in old]
    torch.testing.assert_close(cut, full[:, keep])
    torch.testing.assert_close(grown[:, :len(old)], cut)


def test_the_added_word_has_its_own_branch_and_every_old_output_is_the_parents(added: dict) -> None:
    reg = Registry(added["reg"])
    parent, child = Student(reg.path("speech_commands", SHIPPED)), Student(reg.path("speech_commands", ADDED))
    assert child.manifest.extra["dims"]["branches"] == [child.labels.index("marvin")]
    blocks = parent.manifest.extra["dims"]["blocks"]
    split = sum(blocks) - blocks[-1]  # before the last stage: 9 for the shipped 3-3-3-3 student
    assert child.manifest.extra["data"]["added"]["side_branch"] == split and added["summary"]["side_branch"] == split
    import torch

    from training.model import load_dir

    old = [child.labels.index(lab) for lab in parent.labels]
    with torch.inference_mode():  # the weights the child grew from: the parent's float16 copy
        grown_from = load_dir(reg.path("speech_commands", SHIPPED)).eval()(torch.from_numpy(WINDOWS)).numpy()
    assert np.abs(child.logits(WINDOWS)[:, old] - grown_from).max() < 1e-4  # ONNX Runtime: every old output
    assert np.abs(child.logits(WINDOWS)[:, old] - parent.logits(WINDOWS)).max() < 0.05  # float16 rounding only
    assert "side branch" in added["stdout"]


def test_a_whole_student_fine_tune_on_top_and_removing_the_branch_word(added: dict, tmp_path: Path) -> None:
    import shutil

    reg_dir = tmp_path / "models"
    shutil.copytree(added["reg"], reg_dir)
    reg = Registry(reg_dir)
    reg.promote("speech_commands", ADDED)  # marvin, in a side branch
    cmd = ["sheila" if a == "marvin" else a for a in _add_cmd(reg_dir, added["tmp"])]
    cmd[cmd.index("--json") + 1] = str(tmp_path / "sheila.json")
    done = subprocess.run(cmd + ["--whole"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    child = Student(reg.path("speech_commands"))
    assert reg.current("speech_commands") == f"v{int(ADDED[1:]) + 1}"
    assert child.labels[-4:] == ("marvin", "sheila", "_unknown_", "_silence_")
    assert child.manifest.extra["dims"]["branches"] == [child.labels.index("marvin")]  # still marvin's branch
    assert child.manifest.extra["data"]["added"]["side_branch"] is None
    listing = subprocess.run([sys.executable, "-m", "training.cli", "intents", "--registry", str(reg_dir)],
                             capture_output=True, text=True, timeout=60)
    assert listing.stdout.count("side branch") == 1 and "'marvin' (side branch)" in listing.stdout, listing.stdout
    # marvin is not the last word added: a version without its branch, every other output unchanged
    out = subprocess.run([sys.executable, "-m", "training.cli", "remove-intent", "marvin", "--registry", str(reg_dir)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    smaller = Student(reg.path("speech_commands"))
    assert "marvin" not in smaller.labels and "branches" not in smaller.manifest.extra["dims"]
    import torch

    from training.model import load_dir

    keep = [child.labels.index(lab) for lab in smaller.labels]
    with torch.inference_mode():  # the weights it was cut from: the child's float16 copy
        cut_from = load_dir(reg.path("speech_commands", child.manifest.version)).eval()(torch.from_numpy(WINDOWS)).numpy()
    assert np.abs(smaller.logits(WINDOWS) - cut_from[:, keep]).max() < 1e-4


def test_bad_requests_are_one_line(tmp_path: Path) -> None:
    for args, needle in ((["add-intent", "Bad Name!"], "intent name"),
                         (["add-intent", "yes"], "already one of the student's labels"),
                         (["add-intent", "marvin", "--branch", "99"], "to split after"),
                         (["remove-intent", "yes"], "built-in labels")):
        out = subprocess.run([sys.executable, "-m", "training.cli", *args, "--registry", str(tmp_path / "m"),
                              *(["--quiet"] if args[0] == "add-intent" else [])],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_run_key_follows_every_setting_but_threads() -> None:
    from training.add_intent import run_key
    from training.distill import DistillConfig

    base = DistillConfig(epochs=12, lr=2e-3)
    inputs = ["marvin", ["marvin"], "v3"]
    assert run_key(inputs, base) == run_key(inputs, replace(base, threads=1))
    others = {run_key(inputs, replace(base, **change)) for change in
              ({"lr": 1e-3}, {"seed": 1}, {"epochs": 8}, {"mel_shift": 1.5})}
    assert len(others) == 4 and run_key(inputs, base) not in others
    assert run_key(inputs + [3.0], base) != run_key(inputs, base)


def test_label_set_growth_is_pure() -> None:
    from training.add_intent import with_label, without_label
    from training.add_intent_data import remap

    ls = load_labelset("speech_commands")
    grown = with_label(ls, "marvin", ["marvin"])
    assert grown.labels[-3:] == ("marvin", "_unknown_", "_silence_") and without_label(grown, "marvin").labels == ls.labels
    p = np.eye(len(ls.labels), dtype=np.float32)
    q = remap(p, ls.labels, grown.labels)
    assert q.shape == (len(ls.labels), len(grown.labels)) and q[:, grown.labels.index("marvin")].sum() == 0
    assert q[ls.labels.index("_unknown_"), grown.labels.index("_unknown_")] == 1


def test_new_intents_from_a_yaml_file(tmp_path: Path) -> None:
    from training.add_intent_data import from_yaml

    f = tmp_path / "mine.yaml"
    f.write_text('language: en\nstudent:\n  "marvin": {intent: Marvin, phrases: ["marvin"], response: "Yes?"}\n'
                 '  "kitchen_on": {intent: KitchenOn}\n  "yes": {intent: Confirm}\n'
                 'intents:\n  KitchenOn:\n    data:\n      - sentences: ["kitchen lights on", "turn on [the] kitchen"]\n'
                 '  Marvin:\n    data:\n      - sentences: ["marvin"]\n  Confirm:\n    data:\n      - sentences: ["(yes|sure)"]\n')
    got = {r["name"]: r for r in from_yaml(str(f))}
    assert got["marvin"]["phrases"] == ["marvin"] and got["marvin"]["response"] == "Yes?"
    assert got["kitchen_on"]["phrases"] == ["kitchen lights on"]  # templates are not phrases to synthesise
    assert "yes" not in got  # only template sentences: nothing to learn from
    known = tmp_path / "known.yaml"
    known.write_text('language: en\nstudent:\n  "yes": {intent: Confirm, phrases: ["yes"]}\nintents:\n  Confirm:\n    data:\n'
                     '      - sentences: ["yes"]\n')
    out = subprocess.run([sys.executable, "-m", "training.cli", "add-intent", "--intents-file", str(known),
                          "--registry", str(tmp_path / "m")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "already learnt" in out.stdout, out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("student: [\n")
    out = subprocess.run([sys.executable, "-m", "training.cli", "add-intent", "--intents-file", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "not valid YAML" in out.stderr and "Traceback" not in out.stderr


def test_bench_pools_every_words_clips_per_mode() -> None:
    """Pooled recall counts clips, not words: 7/8 and 10/10 pool to 17/18; false accepts likewise."""
    from training.bench.add_intent import pool

    def row(word: str, mode: str, hits: int, n: int, fa: int, change: float, s: float) -> dict:
        return {"word": word, "mode": mode, "hits": hits, "recall": hits / n, "new_clips": n, "false_accepts": fa,
                "other_clips": 100, "old_change_pts": change, "seconds": s}

    rows = [row("marvin", "text only", 7, 8, 1, -0.3, 80), row("happy", "text only", 10, 10, 3, 0.2, 95),
            row("marvin", "text + 5 recordings", 8, 8, 0, 0.1, 70)]
    text, rec = pool(rows)
    assert (text["mode"], text["hits"], text["new_clips"], text["words"]) == ("text only", 17, 18, 2)
    assert text["recall"] == 17 / 18 and text["false_accept_rate"] == 4 / 200
    assert text["worst_old_change_pts"] == -0.3 and text["slowest_s"] == 95
    assert rec["hits"] == 8 and rec["recall"] == 1.0


def test_bench_report_names_the_bar_and_resumes_only_same_settings(tmp_path) -> None:
    """The report's lines for finished rows, with the new word's own bar or none (the student's), and the
    rows an interrupted bench saved are taken back only when its settings are the same."""
    import argparse
    import json

    from training.bench.add_intent import _done_rows, report

    row = {"word": "bird", "mode": "text only", "seconds": 88.0, "kept": 23, "dropped": 1, "recall": 3 / 7,
           "hits": 3, "new_clips": 7, "missed_as": {"_unknown_": 4}, "new_speakers": 7, "false_accepts": 9,
           "other_clips": 1167, "false_accept_rate": 9 / 1167, "old_before": 0.874, "old_after": 0.877,
           "old_change_pts": 0.3, "live": {"answered_at_once": 0.0, "instant_false_accepts": 0},
           "running_speech": {"hours": 1.45, "new_word": 2, "old_words": 4},
           "other_words": {"by_source": {"gsc words": {"false_accepts": 9, "windows": 1167},
                                         "digits": {"false_accepts": 1, "windows": 2000},
                                         "near-names": {"false_accepts": 5, "windows": 60}},
                           "real": {"false_accepts": 10, "windows": 3167, "at_bar": 1}}}
    m = {"cpu": "test cpu", "cores": 2}
    for accept, says in ((None, "accept bar the student's"), (0.9, "accept bar 0.9.")):
        used = argparse.Namespace(accept=accept, epochs=12, voices=24, threads=2, pos_weight=2.0, hard_epochs=0,
                                  lr=2e-3, mel_shift=0.0, chatter=0, branch=6, whole=False, near_names=4,
                                  no_speech=False, no_found=False, offset_rate=0.0, heard=None)
        lines, out = report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")
        assert says in lines[0] and "test cpu, 2 cores; student extended: speech_commands/v9" in lines[0] and "1.45 h" in lines[0]
        row_line = next(x for x in lines if x.startswith("| bird | text only | 88 s"))
        assert row_line.startswith("| bird | text only | 88 s | 23/1 | +0.00 | 42.9% (3/7 clips, 7 speakers) | _unknown_ 4 |")
        assert row_line.endswith("| 0.0% | 0/1167 | 2 / 4 |")
        assert "| bird | text only | 9/1167 (0.8%) | 1/2000 (0.1%) | 5/60 (8.3%) | 10/3167 (0.3%) | 1 |" in lines
        assert "| **pooled** | text only | 9/1167 (0.8%) | 1/2000 (0.1%) | 5/60 (8.3%) | **10/3167 (0.3%)** | 1 |" in lines
        assert out["rows"] == [row] and out["pooled"][0]["recall"] == 3 / 7 and out["add_intent"]["accept"] == accept
        assert "chatter" not in lines[0] and "each near-name said in 4 voices" in lines[0]
        used.chatter = 48
        assert "48 chatter sentences" in report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0][0]
        assert "side branch after block 6" in lines[0]
        used.whole = True
        assert "the whole student fine-tuned" in report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0][0]
        used.whole = False
        assert "no logit offset" in lines[0]
        used.offset_rate = 0.005
        assert "offset fitted to at most 0.5%" in report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0][0]
        used.offset_rate = 0.0
        assert "the teacher hears as the word learnt as positives" in lines[0]
        found = {**row, "summary": {"rehearsal": {"found_real_clips": {"learnt": 5}}}}
        assert any(x.startswith("| bird | text only | 88 s | 23/1 + 5 found | +0.00 |")
                   for x in report([found], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0])
        home = {**row, "mode": "text + 10 uses heard",
                "household": {"uses": 10, "other_clips": 20, "uses_answered_at_once": 1, "uses_answered": 7,
                              "kept": 15, "kept_as_the_word": 8},
                "summary": {"rehearsal": {"found_real_clips": {"learnt": 6, "heard_segments": {"learnt": 6}}}}}
        home_lines = report([row, home], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0]
        assert "| bird | 10 (+ 20 other words) | 1 | 7 | 15 | 8 | 6 |" in home_lines
        assert not any(x.startswith("| bird | 10 (+") for x in report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0])
        used.no_found = True
        assert "real clips of the word in the rehearsal audio left out" in report([row], used, m, {"hours": 1.45, "old_words": 1}, "speech_commands/v9 (1 parameters, /m)")[0][0]
        used.no_found = False
    saved = tmp_path / "rows.jsonl"
    saved.write_text(json.dumps({"settings": {"epochs": 12}, "row": row}) + "\n"
                     + json.dumps({"settings": {"epochs": 8}, "row": {**row, "word": "other"}}) + "\n"
                     + '{"settings": {"epo')  # cut by the interruption
    assert _done_rows(saved, {"epochs": 12}) == [row]
    assert _done_rows(tmp_path / "absent.jsonl", {"epochs": 12}) == []


def test_evaluate_intent_counts_hits_misses_and_false_accepts(monkeypatch) -> None:
    """Pure bookkeeping (the student's argmax is given): recall from hits, what the misses were heard as,
    false accepts, and old-class accuracy with the new word's own clips left out of the old classes."""
    from dataclasses import dataclass

    import training.evaluate as ev
    from assistant.corpus import Clip
    from assistant.labelset import load_labelset
    from training.add_intent_data import evaluate_intent

    @dataclass
    class Heard:  # a student whose answer per clip is fixed
        labels: tuple[str, ...]
        answers: dict[str, str]

    def predictions(student: Heard, clips: list[Clip]):
        return clips, np.array([student.labels.index(student.answers[c.path.name]) for c in clips]), []

    monkeypatch.setattr(ev, "student_predictions", predictions)
    old = load_labelset("speech_commands")
    labels = old.labels + ("bird",)

    def clip(name: str, folder: str) -> Clip:
        return Clip(Path(f"/x/{folder}/{name}"), "s", folder, "gsc")

    new = [clip(f"n{i}.flac", "bird") for i in range(4)]
    other = [clip(f"o{i}.flac", "house") for i in range(5)]
    old_clips = [clip("y.flac", "yes"), clip("g.flac", "go"), clip("bird_0123abcd_nohash_0.flac", "_unknown_")]
    after = Heard(labels, {"n0.flac": "bird", "n1.flac": "bird", "n2.flac": "_unknown_", "n3.flac": "go",
                           "o0.flac": "bird", **{f"o{i}.flac": "_unknown_" for i in range(1, 5)},
                           "y.flac": "yes", "g.flac": "bird", "bird_0123abcd_nohash_0.flac": "bird"})
    before = Heard(old.labels, {"y.flac": "yes", "g.flac": "go"})
    out = evaluate_intent(after, before, old, "bird", ["bird"], old_clips, new, other)
    assert out["new_hits"] == 2 and out["new_recall"] == 0.5
    assert out["new_missed_as"] == {"_unknown_": 1, "go": 1}
    assert out["false_accepts"] == 1 and out["false_accept_rate"] == 0.2
    assert out["old_clips"] == 2  # the "bird" clip under _unknown_ is the new word now, not an old-class clip
    assert out["old_accuracy_before"] == 1.0 and out["old_accuracy_after"] == 0.5
    assert out["old_clips_heard_as_new"] == 1


def test_chatter_is_cut_every_quarter_second_and_leaves_out_the_new_phrase(tmp_path) -> None:
    """Chatter sentences that hold a new phrase (as whole words) are left out; a clip is cut into windows
    every 0.25 s, the last one ending at the clip's end, and a short clip is padded to one window."""
    import soundfile as sf

    from training.chatter import SENTENCES, chatter_windows, sentences_without

    kept = sentences_without(["the cat", "Coffee"])
    assert "did you remember to feed the cat this morning" not in kept and "we ran out of coffee filters" not in kept
    assert len(kept) == len(SENTENCES) - 3 and sentences_without(["ca"]) == list(SENTENCES)
    a = np.arange(25600, dtype=np.float32) / 25600  # 1.6 s
    sf.write(tmp_path / "long.wav", a, 16000, subtype="FLOAT")
    sf.write(tmp_path / "short.wav", a[:8000], 16000, subtype="FLOAT")
    w = chatter_windows([tmp_path / "long.wav", tmp_path / "short.wav"], 16000)
    assert w.shape == (5, 16000)
    np.testing.assert_allclose(w[1], a[4000:20000], atol=1e-6)
    np.testing.assert_allclose(w[3], a[9600:], atol=1e-6)  # the last cut ends at the clip's end
    np.testing.assert_allclose(w[4, :8000], a[:8000], atol=1e-6)
    assert not w[4, 8000:].any()


def test_the_side_branch_splits_before_the_last_stage_whatever_the_depth() -> None:
    from training.add_intent import BRANCH_AT, default_branch
    from training.commands.add_intent_options import parse

    assert default_branch((2, 2, 2, 2)) == BRANCH_AT == 6  # the shipped student: as before
    assert default_branch((3, 3, 3, 3)) == 9 and default_branch((1, 2, 3, 4)) == 6
    assert parse(["marvin"]).branch is None and parse(["marvin", "--branch", "4"]).branch == 4


def test_bench_seeds_each_run_with_the_student_it_was_asked_to_extend(tmp_path: Path) -> None:
    """``bench-add-intent --student DIR``: each run's registry holds ``DIR`` as its current version, so
    add-intent extends that candidate, not the shipped student (which it would otherwise seed with)."""
    import json
    import shutil

    from assistant.registry import PACKAGE_ROOT, Registry, writable_registry
    from training.bench.add_intent import seed_registry

    cand = tmp_path / "candidate"
    shutil.copytree(Registry(PACKAGE_ROOT).path(), cand)
    manifest = json.loads((cand / "manifest.json").read_text())
    manifest["version"] = "unregistered"
    (cand / "manifest.json").write_text(json.dumps(manifest))
    seed_registry(tmp_path / "reg", cand)
    reg = writable_registry(tmp_path / "reg")  # what add-intent opens: not reseeded with the shipped version
    assert reg.current() == "v1" and reg.path().name == "v1"
    assert json.loads((reg.path() / "manifest.json").read_text())["version"] == "unregistered"
