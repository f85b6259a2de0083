"""``assistant bench``: a tiny real run writes its report, plots and JSON, every figure measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.bench import virtualmic
from assistant.registry import PACKAGE_ROOT, Registry

from .conftest import COMMANDS, ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "assistant.cli", "bench", "--clips", str(COMMANDS), "--per-class", "1",
           "--teachers", "tiny.en", "--backends", "ctranslate2", "--window-runs", "30", "--report-dir", str(out),
           "--json", str(out / "figures.json")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    return out, json.loads((out / "figures.json").read_text())


def test_bench_writes_report_plots_and_json(bench: tuple[Path, dict]) -> None:
    out, d = bench
    assert json.loads((out / "bench.json").read_text())["summary"] == d["summary"]
    md = (out / "bench.md").read_text()
    assert "## Student vs teacher vs pocketsphinx" in md and d["machine"]["cpu"] in md
    for png in d["plots"].values():
        assert (out / png).stat().st_size > 5000
    assert set(d["plots"]) == {"student_latency", "end_to_end", "accuracy_latency"}


def test_bench_measures_every_engine(bench: tuple[Path, dict]) -> None:
    _, d = bench
    engines = {(r["engine"], r["threads"]) for r in d["student"] if "window_ms" in r}
    assert engines == {(e, n) for e in ("ORT fp32", "ORT int8", "torch eager") for n in (1, 2)}
    for r in d["student"]:
        w = r["window_ms"]
        assert 0 < w["median"] <= w["p95"] <= w["p99"] and w["n"] == 30 and r["peak_rss_mb"] > 10
    medians = {r["engine"]: r["window_ms"]["median"] for r in d["student"] if r["threads"] == 1}
    assert len(set(medians.values())) == 3  # measured, not copied from one another
    n_all = len(list(COMMANDS.rglob("*.flac")))
    assert d["clips"]["sample_clips"] == 12 and d["clips"]["clips"] == n_all > 12
    assert all(0 <= r["accuracy"] <= 1 for r in d["summary"])
    assert all(0 <= r["accuracy_all"] <= 1 for r in d["summary"] if not r["name"].startswith("teacher"))
    names = {r["name"] for r in d["summary"]}
    assert {"student ORT fp32", "teacher tiny.en ctranslate2", "pocketsphinx (grammar)"} <= names
    teacher = next(r for r in d["teachers"] if r["backend"] == "ctranslate2")
    assert teacher["clip_ms"]["n"] == 12 and teacher["size_bytes"] > 10_000_000  # teachers: the sample only
    ps, s = (next(r for r in d["summary"] if r["name"] == n) for n in ("pocketsphinx (grammar)", "student ORT fp32"))
    assert d["targets"]["points_over_pocketsphinx"]["points"] == pytest.approx(100 * (s["accuracy_all"] - ps["accuracy_all"]))
    assert d["targets"]["speedup_vs_fastest_teacher"]["x"] == pytest.approx(
        teacher["clip_ms"]["median"] / next(r for r in d["summary"] if r["name"] == "student ORT fp32")["clip_ms"])


def test_bench_end_to_end_is_stage_by_stage(bench: tuple[Path, dict]) -> None:
    e = bench[1]["end_to_end"]
    assert e["utterances_total"] == len(e["utterances"]) > 0
    assert e["local"]["response_ms"]["n"] > 0 and e["deferral"]["response_ms"]["n"] > 0
    assert {"gate", "buffer", "student", "decision"} <= set(e["stages_per_hop_ms"])
    assert 0 < e["loop_real_time_factor"] < 1


def test_bench_startup_on_a_virtual_microphone(bench: tuple[Path, dict]) -> None:
    s = bench[1]["startup"]
    if not virtualmic.available():
        assert s["error"].startswith("skipped")
        return
    assert 0 < s["ready_s"] < s["first_decision_s"]


def test_small_device_profile_pins_one_core() -> None:
    p = subprocess.run([sys.executable, "-m", "assistant.bench.worker", "student", "--model",
                        str(Registry(PACKAGE_ROOT).path("speech_commands")), "--window-runs", "5", "--profile", "small"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    prof = json.loads(p.stdout)["profile"]
    assert prof["profile"] == "small" and len(prof["cores"]) == 1


def test_sample_only_worker_scores_the_sample_and_accuracy_splits(tmp_path: Path) -> None:
    import argparse

    from assistant.bench.run import pick_clips, split_accuracy

    model = Registry(PACKAGE_ROOT).path("speech_commands")
    clips = tmp_path / "clips.json"
    info = pick_clips(argparse.Namespace(clips=str(COMMANDS), data=str(tmp_path), per_class=1), (), clips)
    runs = {}
    for extra in ([], ["--sample-only"]):
        p = subprocess.run([sys.executable, "-m", "assistant.bench.worker", "student", "--model", str(model),
                            "--window-runs", "3", "--clips", str(clips), *extra], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        runs[bool(extra)] = json.loads(p.stdout)
    assert runs[False]["clips"] == info["clips"] > runs[True]["clips"] == info["sample_clips"] == 12
    full, sample = split_accuracy(dict(runs[False]), clips), split_accuracy(dict(runs[True]), clips)
    assert full["accuracy_all"] == runs[False]["accuracy"] and "accuracy_all" not in sample
    assert full["accuracy"] == pytest.approx(sample["accuracy"])  # the same sample, whichever way it was scored


def test_bench_worker_bad_model_is_one_line() -> None:
    p = subprocess.run([sys.executable, "-m", "assistant.bench.worker", "student", "--model", "/nonexistent"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "no such model directory" in p.stderr


def test_bench_loop_compares_settings_on_real_audio(tmp_path: Path, shared_data: Path) -> None:
    cmd = [sys.executable, "-m", "training.cli", "bench-loop", "--accept", "0.99,0.9998", "--smooth", "2",
           "--wait-for-pause", "0", "--every", "40", "--data", str(shared_data), "--report-dir", str(tmp_path)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads((tmp_path / "loop-sweep.json").read_text())["rows"]
    assert [(r["accept"], r["smooth"]) for r in rows] == [(0.99, 2), (0.9998, 2)]
    low, high = (r["real_commands"] for r in rows)
    assert low["clips"] > 0 and low["answered_at_once_right"] >= high["answered_at_once_right"]  # a lower bar answers more
    assert all(r["false_accepts"]["all"]["hours"] > 0 for r in rows)
    assert "| 0.9998 | 2 |" in (tmp_path / "loop-sweep.md").read_text()


def test_bench_loop_bad_setting_is_one_line(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "training.cli", "bench-loop", "--accept", "high", "--data", str(tmp_path)],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "--accept takes comma-separated numbers" in p.stderr


def test_sweep_flags_parse_comma_lists_and_refuse_the_rest() -> None:
    from assistant.errors import AssistantError, floats

    assert floats("0.9, 0.99,", "--accept", bars=True) == [0.9, 0.99]
    assert floats("0,80", "--wait-for-pause") == [0.0, 80.0]
    for text, bars in (("high", False), ("", False), ("0.9,2", True), ("0", True)):
        with pytest.raises(AssistantError, match="--x takes comma-separated numbers"):
            floats(text, "--x", bars=bars)


def test_recorded_decisions_replay_the_loop_for_any_bars() -> None:
    """``training fit-bars`` records the loop's calls to its decision logic once and replays them per bar."""
    from assistant.audio import load_audio
    from assistant.bench.measure import CHUNK
    from assistant.decision import Action, DecisionConfig
    from assistant.intents import IntentSet
    from assistant.loop import Assistant, LoopConfig
    from assistant.student import Student
    from training.bars import accepts, record

    student = Student(Registry().path())
    audio = load_audio(ROOT / "audio_samples" / "session" / "session.flac", max_seconds=None).samples
    calls = record(student, audio)
    seen = 0
    for cfg in (DecisionConfig(), DecisionConfig(accept=0.999, instant=0.9999), DecisionConfig(accept=0.99999, instant=1.0)):
        live = Assistant(student, IntentSet.load(), None, LoopConfig(decision=cfg, model_bars=frozenset())).feed_all(audio, CHUNK)
        want = [(e.decision.time_s, e.decision.label) for e in live if e.decision.action is Action.ACCEPT]
        assert accepts(calls, student.labels, cfg) == want
        seen += len(want)
    assert seen > 0


def test_the_bar_rule_answers_most_at_once_within_the_limits() -> None:
    from training.bars import choose

    def row(a: float, i: float, right: float, wrong: float, median: float, fa: int) -> dict:
        return {"accept": a, "instant": i, "at_once_right": right, "at_once_wrong": wrong, "median_ms": median,
                "per_hour_fit": float(fa), "false_accepts_fit": fa}

    rows = [row(0.999, 0.9999, 0.60, 0.0, 20, 5),     # too many false accepts
            row(0.9998, 0.99997, 0.50, 0.0, 50, 1),   # the choice
            row(0.9998, 0.9999, 0.50, 0.0, 30, 1),    # as many answers, laxer instant bar: loses the tie
            row(0.9998, 1.0, 0.52, 0.0, 120, 1),      # too slow
            row(0.9995, 0.9999, 0.55, 0.01, 10, 0),   # too often wrong
            row(0.9999, 0.99997, 0.45, 0.0, 30, 0)]
    assert choose(rows, 0.005, 1.0, 60.0) == (rows[1], True)
    assert choose(rows, 0.005, 0.5, 10.0) == (rows[5], False)  # none within: fewest false accepts, then wrong


def test_the_agree_rule_keeps_the_teachers_right_words() -> None:
    """The highest bar losing at most 2 % of the teacher's right bare words; digits under it are stopped."""
    from training.agree import TeacherAnswer, agree_rows, choose_agree

    right = [TeacherAnswer("go", s, "go", "calib") for s in [0.15, 0.6] + [0.95] * 48]  # two low right words of 50
    wrong = [TeacherAnswer("no", 0.2, "go", "calib")]  # the teacher's wrong word is no loss
    digits = [TeacherAnswer("go", s, None, p) for s, p in ((0.03, "fsdd:train"), (0.12, "fsdd:calib"), (0.5, "fsdd:test"))]
    rows = agree_rows(right + wrong + digits)
    by = {r["agree"]: r for r in rows}
    assert by[0.1]["lost"] == 0 and by[0.2]["lost"] == 1 and by[0.2]["fit_stopped"] == 2
    assert by[0.9]["held_out_stopped"] == 1 and by[0.2]["held_out_stopped"] == 0 and by[0.2]["teacher_right"] == 50
    assert choose_agree(rows, 0.02)["agree"] == 0.5  # loses 1 of 50 (2 %); 0.7 would lose 2
    assert choose_agree(rows, 0.0)["agree"] == 0.1 and choose_agree(rows[4:], 0.0)["agree"] == 0.3  # none within: lowest


def test_the_posterior_fallback_bar_answers_most_commands_and_no_digit() -> None:
    """The fallback's student bar: the most commands right with none wrong and no answer in the fit audio."""
    from assistant.decision import Action, Decision, DecisionConfig
    from training.agree import TeacherAnswer, choose_posterior, posterior_rows

    def case(said: str | None, part: str, student: float, teacher: float = 0.99) -> TeacherAnswer:
        d = Decision(Action.DEFER, "on", student, 1.0, "student is unsure", {"on": student, "off": 0.01})
        return TeacherAnswer(None, 0.0, said, part, d, {"on": teacher, "off": 0.0})

    words = [case("on", "calib", 0.999), case("on", "calib", 0.97), case(None, "fsdd:train", 0.96),
             case(None, "fsdd:test", 0.999), case("off", "calib", 0.9995, teacher=0.5)]  # the teacher unsure: never
    rows = posterior_rows(words, DecisionConfig())
    by = {r["posterior_student"]: r for r in rows}
    assert (by[0.9]["right"], by[0.9]["fit_answers"], by[0.9]["held_out_answers"]) == (2, 1, 1)
    assert (by[0.98]["right"], by[0.98]["fit_answers"]) == (1, 0) and by[1.0]["right"] == 0
    assert choose_posterior(rows, 0.5)["posterior_student"] == 0.999  # 0.98-0.999 answer as many: the highest
    assert choose_posterior(rows, 1.0)["posterior_student"] == 0.95  # 1 answer in 1 h is within 1 per hour
    assert choose_posterior(rows[-1:], 0.5)["posterior_student"] == 1.0


def test_fit_bars_writes_a_students_own_bars(tmp_path: Path, shared_data: Path) -> None:
    import shutil

    from assistant.intents import IntentSet
    from assistant.loop import Assistant
    from assistant.student import Student

    model = tmp_path / "student"
    shutil.copytree(Registry().path(), model)
    cmd = [sys.executable, "-m", "training.cli", "fit-bars", str(model), "--every", "25", "--data", str(shared_data),
           "--write", "--json", str(tmp_path / "bars.json"), "--quiet", "--agree"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads((tmp_path / "bars.json").read_text())
    assert len(out["rows"]) == 24 and all(r["commands"] > 0 and r["hours_fit"] > 0 and r["hours_held_out"] > 0
                                          for r in out["rows"])
    bars = json.loads((model / "manifest.json").read_text())["decision"]
    assert bars == json.loads(json.dumps(out["chosen"]))
    assert bars["chosen_on"]["every"] == 25 and "calib speakers" in bars["chosen_on"]["commands"]
    bot = Assistant(Student(model), IntentSet.load(), None)
    assert (bot.decision.accept, bot.decision.agree) == (bars["accept"], bars["agree"])
    assert len(out["agree_rows"]) == 15 and bars["chosen_on"]["agree"]["agree"] == bars["agree"]
    assert bot.decision.posterior_student == bars["posterior_student"] == bars["chosen_on"]["posterior_student"]["posterior_student"]
    assert "chosen: accept" in p.stdout and "chosen: agree" in p.stdout and "written to" in p.stdout
    bad = subprocess.run(cmd[:4] + ["--accept", "2", "--data", str(shared_data)], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "--accept" in bad.stderr
