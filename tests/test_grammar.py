"""Decoding under the intent grammar: the template compiler, the token automaton, Rhino contexts, and the
real teacher understanding spoken requests (synthesised here; real coffee orders where ../shared/data is)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import LabelSetError
from assistant.intents import IntentSet
from assistant.intents.grammar import Grammar, TokenAutomaton, WordGraph, compile_intents
from assistant.intents.rhino import template, to_intents

INLINE = {
    "language": "en",
    "intents": {
        "SetTimer": {"data": [{"sentences": ["set [a] timer for {minutes} minute[s]", "(start|begin) a timer"]}]},
        "Order": {"data": [{"sentences": ["[can I get] [a] {size} (latte|mocha) [with {milk}]",
                                          "<please> make it {size}"]}]},
        "Lights": {"data": [{"sentences": ["(turn on;the lights)"]}]},
    },
    "lists": {"minutes": {"range": {"from": 1, "to": 3}},
              "size": {"values": ["small", {"in": "big", "out": "large"}]},
              "milk": {"values": ["oat milk", "soy milk"]}},
    "expansion_rules": {"please": "[please]"},
}


def sentences(g: WordGraph) -> set[str]:
    """Every sentence the graph accepts (finite), as space-joined words."""
    out: set[str] = set()

    def walk(state: int, words: tuple[str, ...]) -> None:
        nxt, can_end = g.words_from(state)
        if can_end:
            out.add(" ".join(words))
        for word, dst in nxt:
            walk(dst, words + (word,))

    walk(g.start, ())
    return out


def hassil_sentences(data: dict) -> set[str]:
    from hassil import Intents
    from hassil.sample import sample_intents

    return {re.sub(r"\s+", " ", s).strip().lower() for _, s in sample_intents(Intents.from_dict(data), language="en")}


def test_compiler_accepts_exactly_what_hassil_parses() -> None:
    from hassil import recognize

    intents = IntentSet(INLINE, "inline")
    got = {s.lower() for s in sentences(compile_intents([intents.hassil]))}
    assert got == hassil_sentences(INLINE)  # every template sentence, and no other
    assert {"set timer for 2 minutes", "set a timer for two minute", "turn on the lights", "the lights turn on",
            "can i get a big latte with soy milk", "make it small", "please make it big"} <= got
    for s in got:
        assert recognize(s, intents.hassil) is not None, s
    m = intents.parse("can I get a big mocha with oat milk")
    assert m is not None and m.intent == "Order" and m.slots == {"size": "large", "milk": "oat milk"}


def test_templates_it_cannot_constrain_are_listed_not_half_built() -> None:
    data = {"language": "en", "intents": {
        "Add": {"data": [{"sentences": ["add {item} to my list", "clear my list"]}]},
        "Here": {"data": [{"sentences": ["lights on"], "requires_context": {"area": {"slot": True}}}]}},
        "lists": {"item": {"wildcard": True}}}
    g = compile_intents([IntentSet(data, "inline").hassil])
    assert sentences(g) == {"clear my list"}
    assert any("wildcard" in s for s in g.skipped) and any("context" in s for s in g.skipped)


def fake_encode(text: str) -> list[int]:
    """Two-letter pieces (leading space kept on the first), so words span several tokens."""
    vocab: dict[str, int] = fake_encode.vocab  # type: ignore[attr-defined]
    pieces = [text[i:i + 2] for i in range(0, len(text), 2)]
    return [vocab.setdefault(p, len(vocab) + 10) for p in pieces]


fake_encode.vocab = {}  # type: ignore[attr-defined]


def test_token_automaton_allows_only_grammar_sentences() -> None:
    g = compile_intents([IntentSet(INLINE, "inline").hassil])
    comma = 1
    auto = TokenAutomaton(g, fake_encode, {comma: ","})

    def walk(text: str) -> bool:
        state, after = auto.start, False
        for i, word in enumerate(text.split()):
            for tok in fake_encode(" " + word):
                nxt = auto.next_states(state, after)
                if tok not in nxt:
                    return False
                state, after = nxt[tok], False
        return auto.can_end(state)

    assert walk("make it small") and walk("Make it big") and walk("set timer for 3 minutes")
    assert not walk("make it medium") and not walk("make it") and not walk("set timer for 4 minutes")
    # punctuation may follow a word once, never start the sentence
    state = auto.start
    assert comma not in auto.next_states(state)
    for tok in fake_encode(" make"):
        state = auto.next_states(state)[tok]
    assert comma in auto.next_states(state)
    after = auto.next_states(state)[comma]
    assert comma not in auto.next_states(after, after_punct=True)


def test_rhino_context_reads_as_templates() -> None:
    assert template("[brew, can I get] (a) $size:size coffee", "x") == "(brew|can I get) [a] {size:size} coffee"
    data = {"context": {"expressions": {"order": ["[get me, give me] a $size:size $drink:drink"]},
                        "slots": {"size": ["small", "twelve ounce"], "drink": ["latte", "iced mocha"]}}}
    intents = IntentSet(data, "coffee.yaml")
    m = intents.parse("give me a 12 ounce iced mocha")  # digits as Whisper writes them; the value stays Rhino's
    assert m is not None and m.intent == "order" and m.slots == {"size": "twelve ounce", "drink": "iced mocha"}
    assert to_intents(data, "x")["lists"]["size"]["values"][1] == {"in": "twelve ounce", "out": "twelve ounce"}
    with pytest.raises(LabelSetError, match="unbalanced"):
        IntentSet({"context": {"expressions": {"o": ["[a, b a"]}, "slots": {}}}, "bad.yaml")
    with pytest.raises(LabelSetError, match="slot 'size' needs a list"):
        IntentSet({"context": {"expressions": {"o": ["a $size:size"]}, "slots": {"size": "small"}}}, "bad.yaml")


def test_broken_intents_file_is_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("context:\n  expressions:\n    order: [\"[a, b\"]\n")
    r = subprocess.run([sys.executable, "-m", "assistant.cli", "understand", "x.wav", "--intents", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "unbalanced brackets" in r.stderr and len(r.stderr.strip().splitlines()) == 1


COFFEE = {"context": {"expressions": {"orderDrink": [
    "[can I get, can I have, I'd like] [a, an] $size:size $coffeeDrink:coffeeDrink with $milkAmount:milkAmount",
    "[can I get, can I have, I'd like] [a, an] $size:size $coffeeDrink:coffeeDrink"]},
    "slots": {"size": ["small", "medium", "large", "twelve ounce"],
              "coffeeDrink": ["americano", "cappuccino", "latte", "iced mocha", "espresso"],
              "milkAmount": ["milk", "soy milk", "almond milk", "a lot of milk"]}}}


def _say(text: str) -> np.ndarray:
    from training.synth import Voice, synthesize

    return synthesize(text, Voice("piper-joe", 1.0, 0.5, 0.8))


@pytest.mark.slow
def test_constrained_decode_of_a_spoken_order(hf_teacher) -> None:
    from assistant.teacher.constrained import understand

    grammar = Grammar([IntentSet(COFFEE, "coffee")])
    u = understand(hf_teacher, _say("Can I get a large cappuccino with almond milk?"), grammar)
    assert u.match is not None, u
    assert u.match.intent == "orderDrink"
    assert u.match.slots == {"size": "large", "coffeeDrink": "cappuccino", "milkAmount": "almond milk"}
    assert u.gap > -0.5 and u.mean_logprob > -1.0


@pytest.mark.slow
def test_out_of_grammar_speech_and_noise_give_no_order(hf_teacher) -> None:
    from assistant.teacher.constrained import understand

    grammar = Grammar([IntentSet(COFFEE, "coffee")])
    speech = understand(hf_teacher, _say("What is the weather going to be like tomorrow?"), grammar)
    assert speech.match is None and speech.parsed is not None  # a sentence was forced, and refused
    rng = np.random.default_rng(0)
    noise = understand(hf_teacher, (0.05 * rng.standard_normal(16000 * 4)).astype(np.float32), grammar)
    assert noise.match is None


def _order_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    import soundfile as sf

    clips = tmp_path / "clips"
    clips.mkdir()
    said = {"a.flac": ("I'd like a small latte with soy milk.", {"size": "small", "coffeeDrink": "latte",
                                                                    "milkAmount": "soy milk"}),
            "b.flac": ("Can I have a medium americano?", {"size": "medium", "coffeeDrink": "americano"})}
    for name, (text, _) in said.items():
        sf.write(clips / name, _say(text), 16000)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({n: {"intent": "orderDrink", "slots": s} for n, (_, s) in said.items()}))
    grammar = tmp_path / "coffee.yaml"
    import yaml

    grammar.write_text(yaml.safe_dump(COFFEE))
    noise = tmp_path / "noise.flac"
    sf.write(noise, (0.1 * np.random.default_rng(1).standard_normal(16000 * 20)).astype(np.float32), 16000)
    return clips, labels, grammar


@pytest.mark.slow
def test_bench_intents_writes_its_fields(tmp_path: Path) -> None:
    from training.cli import main

    clips, labels, grammar = _order_folder(tmp_path)
    out = tmp_path / "r.json"
    assert main(["bench-intents", "--clips", str(clips), "--labels", str(labels), "--intents", str(grammar),
                 "--noise", str(tmp_path / "noise.flac"), "--snr", "18", "--report-dir", str(tmp_path / "rep"),
                 "--json", str(out), "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert set(r["acceptance_by_snr"]) == {"clean", "18"} and r["n_clips"] == 2
    assert r["acceptance"] == 1.0
    assert 0.0 <= r["free_transcription"]["acceptance"] <= 1.0
    assert r["latency_s"]["median"] > 0 and Path(r["plot"]).is_file() and Path(r["markdown"]).is_file()
    # an interrupted run resumes: the second run decodes nothing new and reports the same figures
    assert main(["bench-intents", "--clips", str(clips), "--labels", str(labels), "--intents", str(grammar),
                 "--noise", str(tmp_path / "noise.flac"), "--snr", "18", "--report-dir", str(tmp_path / "rep"),
                 "--json", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["acceptance_by_snr"] == r["acceptance_by_snr"]


@pytest.mark.slow
@pytest.mark.data
def test_real_coffee_orders_understood(shared_data: Path, hf_teacher) -> None:
    """Every 10th order of the Picovoice benchmark (20 clips, many speakers): the full run is
    ``training bench-intents`` (docs/intents.md)."""
    from assistant.audio import load_audio
    from assistant.teacher.constrained import understand

    folder = shared_data / "coffee_orders"
    coffee = IntentSet.load(folder / "coffee_maker.yaml")
    grammar = Grammar([coffee])
    labels = json.loads((folder / "labels.json").read_text())
    right = 0
    files = sorted(labels)[::10]
    for f in files:
        u = understand(hf_teacher, load_audio(folder / "clips" / f).samples, grammar)
        want = {k: v.strip().lower() for k, v in labels[f]["slots"].items()}
        right += u.match is not None and u.match.intent == labels[f]["intent"] and \
            {k: str(v).lower() for k, v in u.match.slots.items()} == want
    assert right >= 0.9 * len(files)
