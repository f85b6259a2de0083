"""The assistant loop: pure decision logic, the speech gate, intents and handlers, streaming == whole file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.audio import load_audio
from assistant.decision import (BOTH_SURE, DISAGREE, LONG, Action, Decider, Decision, DecisionConfig,
                                posterior_command, student_agrees)
from assistant.errors import LabelSetError
from assistant.gate import SpeechGate
from assistant.handlers import Home, answer
from assistant.intents import IntentMatch, IntentSet

from .conftest import SAMPLES, sample

LABELS = ("yes", "no", "_unknown_", "_silence_")


def _p(*probs: float) -> np.ndarray:
    return np.array(probs)


@pytest.mark.parametrize("windows, duration, silence, expected, label", [
    ([_p(0.9, 0.05, 0.03, 0.02)] * 2, 0.6, 0.0, Action.ACCEPT, "yes"),      # confident: answer now
    ([_p(0.5, 0.3, 0.1, 0.1)] * 3, 0.6, 0.0, Action.DEFER, "yes"),          # unsure: ask the teacher
    ([_p(0.1, 0.1, 0.7, 0.1)] * 3, 0.6, 0.0, Action.DEFER, None),           # out-of-set speech
    ([_p(0.5, 0.3, 0.1, 0.1)] * 3, 2.5, 0.0, Action.DEFER, None),           # longer than a command
    ([_p(0.0, 0.0, 0.1, 0.9)] * 3, 0.6, 0.9, Action.IGNORE, None),          # noise
    ([], 0.05, 0.0, Action.IGNORE, None),                                   # a click
])
def test_decisions(windows, duration, silence, expected, label) -> None:
    d = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=0.8, ignore=0.85, smooth=2))
    d.start()
    got = [x for i, w in enumerate(windows) if (x := d.window(0.1 * i, w)) is not None]
    end = d.end(1.0, duration, silence)
    decision = got[0] if got else end
    assert decision.action is expected
    if expected is Action.ACCEPT:
        assert decision.label == label and end is None  # one decision per segment
    elif expected is Action.DEFER and duration <= 1.5 and label:
        assert decision.label == label


def test_the_noise_bar_does_not_move_with_the_answer_bar() -> None:
    """A stricter instant-answer bar must not send more noise to the teacher."""
    for accept in (0.9, 0.999):
        d = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=accept, ignore=0.95))
        d.start()
        assert d.end(1.0, 0.6, 0.97).action is Action.IGNORE
        d.start()
        assert d.end(1.0, 0.6, 0.93).action is Action.DEFER


def test_a_confident_command_can_wait_for_the_speaker_to_pause() -> None:
    d = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=0.8, smooth=1, min_pause_s=0.05))
    d.start()
    assert d.window(0.3, _p(0.9, 0.05, 0.03, 0.02), 0.3, paused=False) is None  # sure, but still talking
    got = d.pause(0.4, 0.35)
    assert got.action is Action.ACCEPT and got.label == "yes" and got.time_s == 0.4
    assert d.end(1.0, 0.6) is None  # one decision per segment
    d.start()
    assert d.window(0.3, _p(0.9, 0.05, 0.03, 0.02), 0.3, paused=True).action is Action.ACCEPT  # already quiet
    d.start()
    d.window(0.3, _p(0.9, 0.05, 0.03, 0.02), 0.3, paused=False)
    assert d.pause(1.4, 1.3) is None  # a sentence that began like a command: no instant answer
    assert d.end(2.0, 1.6).action is Action.DEFER


def test_the_gate_reports_a_pause_before_it_closes() -> None:
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(8000) * 1e-4).astype(np.float32)
    loud = (rng.standard_normal(4800) * 0.1).astype(np.float32)
    events = SpeechGate(pause_frames=5).process(np.concatenate([quiet, loud, quiet]))
    kinds = [(e.kind, e.sample) for e in events]
    assert [k for k, _ in kinds] == ["start", "pause", "end"]
    assert kinds[1][1] == 8000 + 4800 + 5 * 160
    assert [e.kind for e in SpeechGate().process(np.concatenate([quiet, loud, quiet]))] == ["start", "end"]


def test_smoothing_needs_agreeing_windows() -> None:
    d = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=0.8, smooth=2))
    d.start()
    assert d.window(0.1, _p(1.0, 0, 0, 0)) is not None  # first window: the mean is itself
    d.start()
    d.window(0.1, _p(0.2, 0.0, 0.8, 0.0))
    assert d.window(0.2, _p(1.0, 0, 0, 0)) is None  # mean 0.6 < 0.8
    assert d.window(0.3, _p(1.0, 0, 0, 0)) is not None


def test_a_label_can_carry_its_own_accept_bar() -> None:
    cfg = DecisionConfig(accept=0.99, smooth=1)
    shared = Decider(LABELS, ("yes", "no"), cfg)
    own = Decider(LABELS, ("yes", "no"), cfg, accept_by_label={"no": 0.9})
    for d in (shared, own):
        d.start()
    assert shared.window(0.1, _p(0.0, 0.93, 0.07, 0.0)) is None  # 0.93 < 0.99: the teacher decides
    got = own.window(0.1, _p(0.0, 0.93, 0.07, 0.0))
    assert got is not None and got.action is Action.ACCEPT and got.label == "no"
    own.start()
    assert own.window(0.1, _p(0.93, 0.0, 0.07, 0.0)) is None  # "yes" keeps the shared bar
    waiting = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=0.9, smooth=1, min_pause_s=0.08, instant=0.999),
                      accept_by_label={"no": 0.9})
    waiting.start()
    assert waiting.window(0.1, _p(0.93, 0.0, 0.07, 0.0), 0.1, paused=False) is None  # "yes" waits for the pause
    waiting.start()
    assert waiting.window(0.1, _p(0.0, 0.93, 0.07, 0.0), 0.1, paused=False) is None  # an added word waits too
    got = waiting.pause(0.2, 0.15)
    assert got is not None and got.label == "no"


def test_a_deferral_carries_what_the_student_heard() -> None:
    d = Decider(LABELS, ("yes", "no"), DecisionConfig(accept=0.99, smooth=1, max_accept_s=0.5))
    d.start()
    d.window(0.1, _p(0.6, 0.05, 0.3, 0.05), 0.1)
    d.window(0.2, _p(0.2, 0.02, 0.7, 0.08), 0.2)
    d.window(0.7, _p(0.1, 0.5, 0.3, 0.1), 0.7)  # after max_accept_s: no answer, but it was heard
    got = d.end(1.0, 0.9)
    assert got.action is Action.DEFER and got.support == pytest.approx({"yes": 0.6, "no": 0.5})
    d.start()
    assert d.end(2.0, 0.6).support == {"yes": 0.0, "no": 0.0}  # a new segment starts from nothing


def test_the_teacher_is_followed_on_a_bare_command_word_only_if_the_student_heard_it() -> None:
    defer = Decision(Action.DEFER, "yes", 0.6, 1.0, "student is unsure", {"yes": 0.6, "no": 0.004})
    assert student_agrees("yes", defer, 0.1)
    assert not student_agrees("no", defer, 0.1)  # e.g. a digit the teacher heard as "no"
    assert student_agrees("no", defer, 0.0)  # floor 0: the check is off
    assert student_agrees(None, defer, 0.1)  # a sentence: the teacher's own domain
    assert student_agrees("marvin", defer, 0.1)  # a word the student has no share for
    assert student_agrees("no", Decision(Action.DEFER, None, 0.0, 1.0, "x"), 0.1)  # nothing recorded


def test_both_posteriors_must_be_sure_of_one_command_when_the_transcript_names_nothing() -> None:
    cfg = DecisionConfig(posterior_teacher=0.97, posterior_student=0.9)
    defer = Decision(Action.DEFER, "no", 0.95, 1.0, "student is unsure", {"yes": 0.02, "no": 0.95})
    assert posterior_command({"yes": 0.01, "no": 0.98, "_unknown_": 0.01}, defer, cfg) == "no"
    assert posterior_command({"yes": 0.01, "no": 0.9, "_unknown_": 0.09}, defer, cfg) is None  # teacher unsure
    assert posterior_command({"yes": 0.98, "no": 0.01, "_unknown_": 0.01}, defer, cfg) is None  # student: 0.02
    assert posterior_command({"_unknown_": 0.99}, defer, cfg) is None  # not a command
    assert posterior_command(None, defer, cfg) is None  # a teacher without a posterior (a plain server)
    long = Decision(Action.DEFER, None, 0.95, 1.0, LONG, {"yes": 0.02, "no": 0.95})
    assert posterior_command({"no": 0.99}, long, cfg) is None  # a query: the transcript decides
    assert posterior_command({"no": 0.99}, defer, DecisionConfig(posterior_teacher=1.0)) is None  # off


def test_bad_decision_config() -> None:
    with pytest.raises(ValueError):
        DecisionConfig(accept=1.5)
    with pytest.raises(ValueError):
        Decider(LABELS, ("yes", "no"), accept_by_label={"no": 0.0})


def test_gate_finds_bursts_for_any_chunking() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000 * 4).astype(np.float32) * 0.001  # quiet room
    x[16000:24000] += np.sin(np.arange(8000) / 3).astype(np.float32) * 0.3  # 0.5 s tone at 1 s
    x[40000:44000] += np.sin(np.arange(4000) / 3).astype(np.float32) * 0.3  # 0.25 s at 2.5 s
    results = []
    for chunk in (160, 512, 16000, x.size):
        g = SpeechGate()
        results.append([(e.kind, e.sample) for i in range(0, x.size, chunk) for e in g.process(x[i:i + chunk])])
    assert all(r == results[0] for r in results)
    kinds = [k for k, _ in results[0]]
    assert kinds == ["start", "end", "start", "end"]
    assert abs(results[0][0][1] - 16000) <= 160 and abs(results[0][2][1] - 40000) <= 160


def test_intents_from_labels_and_text() -> None:
    intents = IntentSet.load("home")  # the small hand-written example
    assert intents.from_label("on") == IntentMatch("HassTurnOn", {"name": "lights"})
    assert intents.from_text("Turn on the kitchen lights.") == IntentMatch("HassTurnOn", {"name": "kitchen lights"})
    assert intents.from_text("Set a timer for 5 minutes!").intent == "SetTimer"
    assert intents.from_text("Down.") == IntentMatch("VolumeDown")
    assert intents.from_text("what is the meaning of life") is None
    assert intents.from_text("") is None
    assert intents.from_text("down down down down down down") == IntentMatch("VolumeDown")  # Whisper's echo
    assert intents.command_word("Right. Right.") == "right" and intents.command_word("On.") == "on"
    assert intents.command_word("down and up") is None and intents.command_word("") is None


@pytest.mark.parametrize("text, intent, slots", [
    ("Turn on the kitchen lights.", "HassTurnOn", {"area": "kitchen", "domain": "light"}),
    ("turn off the fan", "HassTurnOff", {"domain": "fan", "area": "living room"}),  # the assistant's own area
    ("set a timer for five minutes", "HassStartTimer", {"minutes": 5}),
    ("what time is it", "HassGetCurrentTime", {}),
    ("could you set the volume to 30 percent please", "HassSetVolume", {"volume_level": 30, "area": "living room"}),
    ("set the kitchen lights to 40 percent", "HassLightSet", {"name": "kitchen lights", "brightness": 40}),
    ("yes", "Confirm", {}),
])
def test_default_domain_is_home_assistants_sentences(text: str, intent: str, slots: dict) -> None:
    """The default intents read Home Assistant's English sentence library over the home's entity lists."""
    match = IntentSet.load().from_text(text)
    assert match is not None and match.intent == intent and match.slots == slots
    assert answer(match, Home()) and "can't do that" not in answer(match, Home())


def test_grammar_of_the_default_domain_keeps_context_templates() -> None:
    """Templates needing a context compile where the home supplies it: a {name} of the right domain, or
    the assistant's own area; names of domains the home lacks leave their templates out."""
    from assistant.intents.grammar import TokenAutomaton

    grammar = IntentSet.load().grammar()
    assert not grammar.empty
    words = {w for s in [grammar.graph.start] for w, _ in grammar.graph.words_from(s)[0]}
    assert {"turn", "set", "what", "could"} <= words
    skipped = "\n".join(grammar.graph.skipped)
    assert "HassTurnOn: <turn> on [<the>] {name}" not in skipped  # lights, fan, tv carry their domain
    assert "HassVacuumStart" in skipped  # no vacuum in this home
    auto = TokenAutomaton(grammar.graph, lambda t: [ord(c) for c in t], {})
    assert auto.next_states(auto.start)


@pytest.mark.parametrize("text, match", [
    ("intents: [1, 2\n", "not valid YAML"),
    ("language: en\n", "'intents:'"),
    ("language: en\nintents: {}\nstudent:\n  yes: {intent: Confirm}\n", "quote the label"),
    ("language: en\nlibrary: alexa-skills\n", "unknown sentence library"),
    ("language: en\nlibrary: home-assistant-intents\ncontext: kitchen\n", "'context:' must map"),
])
def test_broken_intents_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "intents.yaml"
    path.write_text(text)
    with pytest.raises(LabelSetError, match=match):
        IntentSet.load(path)


def test_handlers_change_the_home() -> None:
    home = Home()
    assert answer(IntentMatch("HassTurnOn", {"name": "fan"}), home) == "Turned on the fan." and home.devices["fan"]
    assert answer(IntentMatch("VolumeUp"), home) == "Volume 60%."
    assert answer(IntentMatch("SetVolume", {"volume": 150}), home) == "Volume 100%."
    assert answer(IntentMatch("SetTimer", {"minutes": 5.0}), home) == "Timer set for 5 minutes."
    assert answer(IntentMatch("HassTurnOff", {"area": "kitchen", "domain": "light"}), home) == \
        "Turned off the kitchen lights." and home.devices["kitchen lights"] is False
    assert answer(IntentMatch("HassStartTimer", {"hours": 1, "minutes": 5}), home) == "Timer set for 65 minutes."
    assert answer(IntentMatch("HassSetVolumeRelative", {"volume_step": "down"}), home) == "Volume 90%."
    assert answer(None, home) == "Sorry, I didn't catch that."
    assert "can't do that yet" in answer(IntentMatch("MakeCoffee"), home)


def _session() -> np.ndarray:
    """yes, pause, a word the student does not know, pause, stop — as one stream."""
    gap = np.zeros(16000, np.float32)
    parts = [gap, load_audio(sample("yes", 1)).samples, gap, load_audio(sample("_unknown_", 1)).samples, gap,
             load_audio(sample("stop", 1)).samples, gap]
    return np.concatenate(parts)


def _run(audio: np.ndarray, chunk: int, transcribe=None, cfg=None):
    from assistant.loop import Assistant
    from assistant.registry import Registry
    from assistant.student import Student

    bot = Assistant(Student(Registry().path()), IntentSet.load(), transcribe, cfg)
    return bot.feed_all(audio, chunk)


def test_streaming_decisions_equal_whole_file_decisions() -> None:
    audio = _session()
    from assistant.loop import LoopConfig

    for cfg in (None, LoopConfig(decision=DecisionConfig(min_pause_s=0.05))):
        runs = [[(e.decision.action, e.decision.label, e.decision.time_s, e.answer) for e in _run(audio, c, cfg=cfg)]
                for c in (160, 320, 1234, audio.size)]
        assert runs[0] and all(r == runs[0] for r in runs)


def test_session_answers_commands_and_defers_the_rest() -> None:
    heard = []

    def fake_teacher(audio: np.ndarray) -> str:  # pure-logic test: the real teacher is tested elsewhere
        heard.append(audio.size)
        return "turn on the kitchen lights"

    events = _run(_session(), 320, fake_teacher)
    actions = [(e.decision.action, e.answered_by) for e in events if e.decision.action is not Action.IGNORE]
    assert actions == [(Action.ACCEPT, "student"), (Action.DEFER, "teacher"), (Action.ACCEPT, "student")]
    assert events[0].answer == "Yes noted." and events[-1].answer == "Stopped."
    deferred = [e for e in events if e.decision.action is Action.DEFER][0]
    assert deferred.answer == "Turned on the kitchen lights." and heard and heard[0] > 8000


def test_a_teacher_that_hears_no_speech_leaves_the_segment_unanswered() -> None:
    events = _run(_session(), 320, lambda audio: "")  # Teacher.hear's answer for noise
    quiet = [e for e in events if e.answered_by == "teacher"]
    assert quiet and all(e.decision.action is Action.IGNORE and e.answer is None for e in quiet)
    assert quiet[0].decision.reason == "teacher hears no speech"


def test_a_bare_word_the_student_did_not_hear_is_not_carried_out() -> None:
    """The session's deferred query said by the teacher as "Stop.": the student gave "stop" nothing there."""
    events = _run(_session(), 320, lambda audio: "Stop.")
    deferred = [e for e in events if e.decision.action is Action.DEFER]
    assert deferred and deferred[0].decision.support["stop"] < 0.1
    assert deferred[0].intent is None and deferred[0].answer == "Sorry, I didn't catch that."
    assert deferred[0].decision.reason == DISAGREE and deferred[0].transcript == "Stop."
    from assistant.loop import LoopConfig

    events = _run(_session(), 320, lambda audio: "Stop.", LoopConfig(decision=DecisionConfig(agree=0.0)))
    assert [e for e in events if e.decision.action is Action.DEFER][0].intent.intent == "HassMediaPause"


def test_the_teachers_posterior_answers_when_its_transcript_names_nothing() -> None:
    """The session's last command ("stop"), deferred by a strict student bar: Whisper writes "Stuff." (no
    intent), but its posterior and the student's both say stop."""
    from assistant.loop import LoopConfig
    from assistant.teacher import Transcript

    def teacher(audio: np.ndarray) -> Transcript:
        return Transcript("Stuff.", 0.1, 0.0, 0.0, {"stop": 0.99, "go": 0.005, "_unknown_": 0.005})

    strict = LoopConfig(decision=DecisionConfig(accept=1.0))  # everything goes to the teacher
    events = [e for e in _run(_session(), 320, teacher, strict) if e.decision.action is Action.DEFER]
    last = events[-1]
    assert last.decision.support["stop"] >= 0.9 and last.intent.intent == "HassMediaPause"
    assert last.decision.reason == BOTH_SURE and last.decision.label == "stop" and last.transcript == "Stuff."
    assert events[0].intent is None  # "yes": the student is sure of it, but the teacher's posterior is not


def test_no_teacher_is_said_honestly() -> None:
    events = _run(_session(), 320, None)
    deferred = [e for e in events if e.decision.action is Action.DEFER]
    assert deferred and "no teacher" in deferred[0].answer


@pytest.mark.slow
def test_assistant_run_cli_with_the_real_teacher(tmp_path: Path) -> None:
    import json

    import soundfile as sf

    path = tmp_path / "session.wav"
    sf.write(path, _session(), 16000)
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "run", str(path), "--threads", "2",
                          "--json", str(tmp_path / "d.json")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    records = json.loads((tmp_path / "d.json").read_text())
    actions = [r["decision"]["action"] for r in records if r["decision"]["action"] != "IGNORE"]
    assert actions[0] == "ACCEPT" and "DEFER" in actions
    deferred = [r for r in records if r["decision"]["action"] == "DEFER"][0]
    assert deferred["transcript"] and deferred["answered_by"] == "teacher"


def test_shipped_session_and_bench_functions(tmp_path: Path) -> None:
    """The scripted session: every utterance gets an answer; the false-accept counter counts."""
    import json

    import soundfile as sf

    from assistant.registry import Registry
    from assistant.student import Student
    from training.bench.assistant import false_accepts, session_run

    meta = json.loads((SAMPLES / "session" / "session.json").read_text())
    audio = load_audio(SAMPLES / "session" / "session.flac", max_seconds=None).samples
    texts = {u["text"]: u["intent"] for u in meta["utterances"]}
    rows = session_run(Student(Registry().path()), IntentSet.load(), lambda a: "turn on the kitchen lights",
                       audio, meta["utterances"], realtime=False)
    assert len(rows) == len(meta["utterances"]) and all(r["answered"] for r in rows)
    commands = [r for r in rows if r["command"]]
    by_student = [r for r in commands if r["answered_by"] == "student"]  # the rest go to the (stub) teacher
    assert len(by_student) >= len(commands) // 2 and all(r["right"] for r in by_student)
    assert all(r["answered_by"] == "teacher" for r in rows if not r["command"]) and texts
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    sf.write(quiet / "room.wav", np.random.default_rng(0).standard_normal(16000 * 5).astype(np.float32) * 0.001, 16000)
    fa = false_accepts(Student(Registry().path()), IntentSet.load(), [quiet])
    assert fa["quiet"]["false_accepts"] == 0 and abs(fa["all"]["hours"] - 6 / 3600) < 1e-6


def test_the_whole_assistant_on_command_clips_is_counted() -> None:
    """Every clip lands in exactly one outcome; a teacher that always says "Stop." is right only on "stop"."""
    from assistant.corpus import find_clips
    from assistant.registry import Registry
    from assistant.student import Student
    from training.bench.assistant import real_command_outcomes

    clips = [c for c in find_clips([SAMPLES / "commands"]) if not c.folder_label.startswith("_")]
    out = real_command_outcomes(Student(Registry().path()), IntentSet.load(), clips, lambda a: "Stop.")
    parts = ("student_right", "student_wrong", "teacher_right", "teacher_wrong", "unanswered")
    assert out["clips"] == len(clips) > 0 and sum(out[k] for k in parts) == len(clips)
    assert out["student_right"] > 0 and out["stopped_by_agree"] <= out["unanswered"]
    assert out["stopped_by_agree_teacher_right"] <= out["stopped_by_agree"]


def test_endless_sound_is_cut_into_segments() -> None:
    """A sound that never stops still reaches a decision (and the teacher) every MAX_SEGMENT_S."""
    from assistant.loop import MAX_SEGMENT_S

    t = np.arange(int(16000 * (2 * MAX_SEGMENT_S + 3))) / 16000
    hum = (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    hum[:16000] = 0.0005 * np.random.default_rng(0).standard_normal(16000)  # a quiet second first
    heard = []
    events = _run(hum, 1600, lambda a: heard.append(a.size) or "hmm")
    deferred = [e for e in events if e.decision.action is Action.DEFER]
    assert len(deferred) >= 2 and all(e.answer == "Sorry, I didn't catch that." for e in deferred)
    assert max(heard) <= int((MAX_SEGMENT_S + 1) * 16000)


def test_loop_settings_from_the_command_line(tmp_path: Path) -> None:
    import json

    session = str(SAMPLES / "session" / "session.flac")
    base = [sys.executable, "-m", "assistant.cli", "run", session, "--no-teacher"]
    runs = {}
    for name, extra in (("default", ["--wait-for-pause", "0"]), ("strict", ["--accept", "1.0"]),
                        ("paused", ["--wait-for-pause", "80", "--instant", "1"])):
        out = tmp_path / f"{name}.json"
        p = subprocess.run(base + extra + ["--json", str(out)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        runs[name] = [r["decision"] for r in json.loads(out.read_text()) if r["decision"]["action"] == "ACCEPT"]
    assert len(runs["strict"]) < len(runs["default"])  # a bar of 1.0 leaves (nearly) everything to the teacher
    assert [d["label"] for d in runs["paused"]] == [d["label"] for d in runs["default"]]
    later = [p["time_s"] - d["time_s"] for p, d in zip(runs["paused"], runs["default"])]
    assert min(later) >= 0 and max(later) > 0  # held until the speaker paused (or already quiet)
    for flag, value in (("--windows", "0"), ("--agree", "2")):
        bad = subprocess.run(base + [flag, value], capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and flag in bad.stderr


def test_a_student_can_carry_its_own_bars() -> None:
    from assistant.decision import with_model_bars

    cfg = DecisionConfig()
    assert with_model_bars(cfg, None) == cfg
    own = with_model_bars(cfg, {"accept": 0.999, "instant": 0.9999, "chosen_on": {"date": "today"}})
    assert (own.accept, own.instant, own.smooth, own.agree) == (0.999, 0.9999, cfg.smooth, cfg.agree)
    assert with_model_bars(cfg, {"agree": 0.3}).agree == 0.3 and with_model_bars(cfg, {"agree": 0}).agree == 0.0
    kept = with_model_bars(cfg, {"accept": 0.999, "instant": 0.9999}, frozenset({"accept"}))  # set by the user
    assert (kept.accept, kept.instant) == (cfg.accept, 0.9999)
    for bad in ({"accept": 1.5}, {"instant": "high"}, {"accept": True}, [0.9], {"agree": -0.1}, {"accept": 0}):
        with pytest.raises(ValueError):
            with_model_bars(cfg, bad)


def _with_bars(folder: Path, bars: object) -> Path:
    """A copy of the shipped student whose manifest carries ``bars``."""
    import json
    import shutil

    from assistant.registry import Registry

    shutil.copytree(Registry().path(), folder)
    m = json.loads((folder / "manifest.json").read_text())
    m["decision"] = bars
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def test_the_loop_takes_the_students_bars_unless_the_user_sets_them(tmp_path: Path) -> None:
    import json

    from assistant.errors import ModelError
    from assistant.loop import Assistant, LoopConfig
    from assistant.registry import Registry
    from assistant.student import Student

    audio = _session()

    def accepts(student: Student, cfg: LoopConfig | None = None) -> list[str | None]:
        events = Assistant(student, IntentSet.load(), None, cfg).feed_all(audio, 320)
        return [e.decision.label for e in events if e.decision.action is Action.ACCEPT]

    strict_dir = _with_bars(tmp_path / "strict", {"accept": 1.0, "instant": 1.0})
    strict = Student(strict_dir)
    shipped = accepts(Student(Registry().path()))
    assert shipped and len(accepts(strict)) < len(shipped)  # its own bar of 1.0 leaves (nearly) all to the teacher
    assert accepts(strict, LoopConfig(model_bars=frozenset())) == shipped  # the loop's bars: as the shipped one
    assert Assistant(strict, IntentSet.load(), None).decision.accept == 1.0
    own = _with_bars(tmp_path / "own", None)  # a word's own bar (training add-intent --accept) beats the student's
    m = json.loads((own / "manifest.json").read_text())
    m["intents"] = {"yes": {"intent": "Confirm", "phrases": ["yes"], "accept": 0.5}}
    (own / "manifest.json").write_text(json.dumps(m))
    bot = Assistant(Student(own), IntentSet.load(), None)
    assert (bot.decider.accept[0], bot.decider.instant[0]) == (0.5, bot.decision.instant)
    assert bot.decider.accept[1] == bot.decision.accept
    broken = Student(_with_bars(tmp_path / "broken", {"accept": 7}))
    with pytest.raises(ModelError, match="decision bar 'accept' is 7"):
        Assistant(broken, IntentSet.load(), None)
    with pytest.raises(ModelError, match="training fit-bars"):  # a running loop refuses it before switching
        Assistant(strict, IntentSet.load(), None).swap(broken, IntentSet.load())
    # the command line: --accept/--instant given override the student's own bars
    base = [sys.executable, "-m", "assistant.cli", "run", str(SAMPLES / "session" / "session.flac"), "--no-teacher"]
    counts = {}
    bars = json.loads((Registry().path() / "manifest.json").read_text())["decision"]
    told = ["--accept", f"{bars['accept']:g}", "--instant", f"{bars['instant']:g}"]  # the shipped student's own
    for name, extra in (("shipped", []), ("own", ["--student", str(strict_dir)]),
                        ("told", ["--student", str(strict_dir), *told])):
        out = tmp_path / f"{name}.json"
        p = subprocess.run(base + extra + ["--json", str(out)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        counts[name] = sum(r["decision"]["action"] == "ACCEPT" for r in json.loads(out.read_text()))
        first = p.stdout.splitlines()[0]  # the bars in force come first
        assert f"answers at once from {'1' if name == 'own' else told[1]} " in first, first
    assert counts["own"] < counts["shipped"] == counts["told"]
    p = subprocess.run(base + ["--student", str(tmp_path / "broken")], capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and p.stderr.strip().count("\n") == 0 and "decision bar 'accept'" in p.stderr


def test_a_reader_that_goes_away_is_not_a_traceback() -> None:
    """``assistant run … | head -1``: the pipe closes before the answers are printed."""
    p = subprocess.Popen([sys.executable, "-m", "assistant.cli", "run", str(SAMPLES / "session" / "session.flac"),
                          "--no-teacher"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.close()  # type: ignore[union-attr]
    err = p.stderr.read()  # type: ignore[union-attr]
    assert p.wait(timeout=120) == 141 and "Traceback" not in err and err == "", err


def test_a_bad_number_on_any_command_line_is_one_line_and_exit_2() -> None:
    for cmd in (["assistant", "record", "x", "--count", "0"], ["training", "pipeline", "--epochs", "ten"],
                ["training", "pipeline", "--kokoro", "-1"], ["assistant", "bench", "--per-class", "0"],
                ["training", "pipeline", "--ema", "1.5"], ["assistant", "listen", "--seconds", "nan"],
                ["assistant", "serve-teacher", "--port", "70000"], ["training", "pipeline", "--seed", "-1"],
                ["training", "pipeline", "--mel-shift", "-2"], ["training", "add-intent", "x", "--mel-shift", "9"],
                ["training", "pipeline", "--eq-db", "30"], ["training", "pipeline", "--blocks", "3,3"]):
        p = subprocess.run([sys.executable, "-m", f"{cmd[0]}.cli", *cmd[1:]], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 2 and p.stdout == "", cmd
        flag = next(a for a in cmd if a.startswith("--"))
        assert p.stderr.count("\n") == 1 and f"argument {flag}:" in p.stderr and "--help" in p.stderr, p.stderr


def test_record_that_cannot_open_the_microphone_leaves_no_folder(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "assistant.cli", "record", "x", "--out", str(tmp_path / "a" / "b"),
                        "--device", "999"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "microphone" in p.stderr, p.stderr
    assert not (tmp_path / "a").exists()
