"""Property-based fuzzing (Hypothesis) of every entry point that reads outside input.

The robustness rule: every bad input ends in a result or ONE clear line (an
:class:`~assistant.errors.AssistantError` subclass, or an HTTP 4xx), never a traceback nor a hang. Each
property below feeds one entry point generated and mutated input and fails on anything else: another
exception type, a message of more than one line, a 5xx, or a call slower than :data:`TIME_LIMIT_S`.

Entry points: :func:`assistant.audio.load_audio` (arbitrary bytes; WAV/FLAC written from random arrays;
corrupted headers), the intents reader (:class:`~assistant.intents.IntentSet`, ``read_yaml``,
``IntentSet.from_text``), the label-set reader (``load_labelset``, ``LabelSet.from_dict``), the student
model directory (``Manifest.read``, ``Student``) and the teacher server's uploads (``/v1/audio/transcriptions``,
``/v1/intent``, with a fake teacher).

Size: ``FUZZ_EXAMPLES`` examples per property (default :data:`DEFAULT_EXAMPLES`: the whole file in well under
3 minutes on 2 cores, for every CI run). The nightly size, >= 10,000 cases per entry point::

    FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/test_fuzz.py --hypothesis-show-statistics

A failure prints the shrunk input and a ``@reproduce_failure`` line; Hypothesis also keeps it in
``.hypothesis/`` (self-gitignored) and replays it first on the next run.
"""

from __future__ import annotations

import faulthandler
import hashlib
import io
import json
import math
import os
import struct
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from assistant.audio import SAMPLE_RATE, Audio, load_audio
from assistant.errors import AssistantError, AudioError, LabelSetError, ModelError
from assistant.intents import IntentMatch, IntentSet
from assistant.labelset import LabelSet, load_labelset, read_yaml
from assistant.student import FORMAT, MANIFEST, Manifest, Student

DEFAULT_EXAMPLES = 300
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_EXAMPLES)
TIME_LIMIT_S = 30.0
"""No single call may take longer (a hang or a pathological slowdown is a failure too)."""
HANG_S = 120.0
"""A call still running after this long is a hang: dump every thread's stack and stop the run (a Python
time check cannot interrupt a hang inside C code)."""
_hang_file = sys.__stderr__
"""Where the stacks go: the terminal pytest's faulthandler plugin keeps (output capture would swallow them)."""

FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

ROOT = Path(__file__).resolve().parents[1]
REAL_MODEL = ROOT / "assistant" / "models" / "speech_commands" / "v4"


@pytest.fixture(scope="module", autouse=True)
def _hang_report(pytestconfig: pytest.Config) -> None:
    global _hang_file
    try:
        from _pytest.faulthandler import fault_handler_stderr_fd_key

        _hang_file = pytestconfig.stash[fault_handler_stderr_fd_key]
    except (ImportError, KeyError):  # another pytest, or -p no:faulthandler: plain stderr
        pass


def outcome(call, errors: tuple[type[BaseException], ...] = (AssistantError,)):
    """``call()``'s result, or the expected error it raised (checked to be one line); any other exception
    propagates and fails the property. The call must finish within :data:`TIME_LIMIT_S`."""
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=_hang_file)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # numpy's overflow/invalid-value warnings: a bug too
            result = call()
    except errors as e:
        result = e
        message = str(e)
        assert message.strip(), f"{type(e).__name__} with an empty message"
        assert "\n" not in message and "\r" not in message, f"a message of more than one line: {message!r}"
    finally:
        faulthandler.cancel_dump_traceback_later()
        elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.1f} s (limit {TIME_LIMIT_S:g} s)"
    event(f"outcome: {type(result).__name__}")
    return result


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for the whole module (Hypothesis reruns a test body many times per fixture)."""
    return tmp_path_factory.mktemp("fuzz")


# --------------------------------------------------------------------------------------------- audio

RATES = st.one_of(st.sampled_from([1, 2, 999, 1000, 7999, 8000, 11025, 16000, 22050, 44100, 48000, 96000,
                                   192000, 384000]), st.integers(1, 384_000))
SPECIALS = [math.nan, math.inf, -math.inf, 1e-45, -1e-40, 5e-324, 3.4e38, -3.4e38, 1e30, 1e300, 2.0, -1.0,
            1.0, 0.0, -0.0]
SUBTYPES = {"WAV": ["PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "DOUBLE"], "FLAC": ["PCM_16", "PCM_24", "PCM_S8"]}
MAX_SECONDS = st.sampled_from([30.0, 30.0, 5.0, 0.5, None])


@st.composite
def signals(draw, max_frames: int = 6000) -> tuple[np.ndarray, int]:
    """(frames, channels) float64 samples and a sample rate: noise or tone or silence at any level, DC offset,
    clipping, and NaN/inf/denormal/huge values sprinkled in."""
    rate = draw(RATES)
    channels = draw(st.integers(1, 8))
    frames = draw(st.one_of(st.integers(0, 16), st.integers(0, max_frames)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["noise", "tone", "zeros", "square"]))
    if kind == "noise":
        x = rng.standard_normal((frames, channels))
    elif kind == "tone":
        t = np.arange(frames)[:, None] / rate
        x = np.sin(2 * np.pi * draw(st.floats(0, rate)) * t + rng.uniform(0, 6.3, channels))
    elif kind == "square":
        x = np.sign(np.sin(np.arange(frames)[:, None] * 0.3 + np.arange(channels)))
    else:
        x = np.zeros((frames, channels))
    x = x * draw(st.sampled_from([1.0, 0.5, 1e-3, 1e-40, 1e-310, 2.0, 100.0, 1e20, 3e38, 1e300]))
    x = x + draw(st.sampled_from([0.0, 0.0, 0.5, -0.9, 1.0, 1e10]))  # DC offset
    if draw(st.booleans()):
        x = np.clip(x, -1.0, 1.0)  # hard clipping
    if frames and draw(st.booleans()):
        for value in draw(st.lists(st.sampled_from(SPECIALS), max_size=4)):
            x[rng.integers(frames), rng.integers(channels)] = value
    return x, rate


def expect_audio(result: object, *, rate: int | None = None, channels: int | None = None) -> None:
    """``load_audio``'s contract: an :class:`Audio` of finite float32 mono samples at 16 kHz, or AudioError."""
    if isinstance(result, AudioError):
        return
    assert isinstance(result, Audio), type(result)
    s = result.samples
    assert s.dtype == np.float32 and s.ndim == 1 and s.size > 0
    assert np.isfinite(s).all(), "non-finite samples came through"
    assert 1_000 <= result.source_rate <= 384_000
    if rate is not None:
        assert result.source_rate == rate and result.source_channels == channels


def load(source, max_seconds):
    return outcome(lambda: load_audio(source, max_seconds=max_seconds), (AudioError,))


MAGIC = st.sampled_from([b"", b"RIFF", b"RIFF\xff\xff\xff\xffWAVEfmt ", b"fLaC", b"OggS", b"FORM",
                         b"FORM\x00\x00\x00\x10AIFF", b".snd", b"ID3", b"\xff\xfb", b"RF64", b"caff", b"wvpk", b"MThd"])


@FUZZ
@given(head=MAGIC, body=st.binary(max_size=2048), max_seconds=MAX_SECONDS)
@example(head=b"", body=b"", max_seconds=30.0)
def test_load_audio_of_arbitrary_bytes(head: bytes, body: bytes, max_seconds) -> None:
    expect_audio(load(head + body, max_seconds))


def _written(x: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes | None:
    buf = io.BytesIO()
    try:
        sf.write(buf, x, rate, format=fmt, subtype=subtype)
    except Exception:  # noqa: BLE001 - libsndfile refuses some combinations (FLAC above 655 kHz, ...)
        return None
    return buf.getvalue()


@FUZZ
@given(sig=signals(), fmt=st.sampled_from(sorted(SUBTYPES)), data=st.data(), max_seconds=MAX_SECONDS,
       how=st.sampled_from(["path", "bytes", "file"]))
def test_load_audio_of_generated_files(scratch: Path, sig, fmt: str, data, max_seconds, how: str) -> None:
    x, rate = sig
    subtype = data.draw(st.sampled_from(SUBTYPES[fmt]))
    raw = _written(x, rate, fmt, subtype)
    if raw is None:
        event(f"soundfile refused to write {fmt}/{subtype}")
        return
    path = scratch / f"gen.{fmt.lower()}"
    path.write_bytes(raw)
    source = {"path": path, "bytes": raw, "file": io.BytesIO(raw)}[how]
    result = load(source, max_seconds)
    expect_audio(result, rate=rate, channels=x.shape[1])
    try:  # what the file holds, read independently (float64: huge values stay finite)
        stored, _ = sf.read(io.BytesIO(raw), dtype="float64", always_2d=True)
    except sf.LibsndfileError:  # soundfile wrote what it cannot read back (an empty FLAC): refused, fine
        assert isinstance(result, AudioError)
        return
    seconds = len(stored) / rate
    usable = (1_000 <= rate <= 384_000 and len(stored) > 0 and np.isfinite(stored).all()
              and np.abs(stored).max(initial=0) < 3.4e38 and (max_seconds is None or seconds <= max_seconds)
              and len(stored) * SAMPLE_RATE / rate >= 1)
    if usable:  # a plausible, finite, short enough clip must be accepted, not refused
        assert isinstance(result, Audio), f"refused a usable clip: {result}"
        assert abs(result.samples.size - len(stored) * SAMPLE_RATE / rate) <= 2
        if np.ptp(stored.mean(axis=1)) > 1e-3 * max(1.0, np.abs(stored).max()):  # audible after scaling
            assert np.abs(result.samples).max() > 0, "a clip with sound came out silent"


def _wav(x: np.ndarray, rate: int, subtype: str) -> bytes:
    return _written(x, rate, "WAV", subtype) or b""


@st.composite
def corrupted(draw) -> bytes:
    """Valid WAV/FLAC bytes with header fields overwritten, bytes flipped, inserted, deleted or cut off."""
    x, rate = draw(signals(max_frames=2000))
    rate = min(max(rate, 1000), 192_000)
    fmt = draw(st.sampled_from(sorted(SUBTYPES)))
    raw = _written(np.nan_to_num(x, posinf=1, neginf=-1).clip(-1, 1), rate, fmt, draw(st.sampled_from(SUBTYPES[fmt])))
    raw = bytearray(raw or _wav(np.zeros((10, 1)), 16000, "PCM_16"))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["field", "flip", "byte", "insert", "delete", "truncate"]))
        n = len(raw)
        if n == 0:
            break
        near_header = st.integers(0, min(n, 64) - 1)
        anywhere = st.integers(0, n - 1)
        if op == "field" and n >= 44:  # a RIFF/fmt/data field (size, channels, rate, byte rate, align, bits)
            offset, size = draw(st.sampled_from([(4, 4), (16, 4), (20, 2), (22, 2), (24, 4), (28, 4), (32, 2),
                                                 (34, 2), (40, 4)]))
            value = draw(st.one_of(st.sampled_from([0, 1, 2**(8 * size) - 1, 2**(8 * size - 1)]),
                                   st.integers(0, 2**(8 * size) - 1)))
            raw[offset:offset + size] = value.to_bytes(size, "little")
        elif op == "flip":
            i = draw(st.one_of(near_header, anywhere))
            raw[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            raw[draw(st.one_of(near_header, anywhere))] = draw(st.integers(0, 255))
        elif op == "insert":
            i = draw(anywhere)
            raw[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            i = draw(anywhere)
            del raw[i:i + draw(st.integers(1, 16))]
        else:
            del raw[draw(st.one_of(near_header, anywhere)):]
    return bytes(raw)


@FUZZ
@given(raw=corrupted(), max_seconds=MAX_SECONDS)
@example(raw=_wav(np.zeros((100, 2)), 16000, "PCM_16")[:44], max_seconds=30.0)  # header only, no samples
@example(raw=_wav(np.zeros((100, 2)), 16000, "PCM_16")[:22] + struct.pack("<HI", 0, 0)
         + _wav(np.zeros((100, 2)), 16000, "PCM_16")[28:], max_seconds=30.0)  # 0 channels, 0 Hz
def test_load_audio_of_corrupted_files(raw: bytes, max_seconds) -> None:
    expect_audio(load(raw, max_seconds))


# ------------------------------------------------------------------------------------ YAML-like data

WORDS = ["light", "lights", "kitchen", "the", "on", "off", "turn", "set", "to", "percent", "volume", "up", "down",
         "{name}", "{area}", "{volume}", "{brightness:value}", "<area>", "<name>", "[the]", "(on|off)", "(a|", "[",
         "]", "{", "}", "<", ">", "(", ")", "|", ":", ";", "'", "\\", "%", "*", " ", " ", " ", "ü", "日本"]
TEMPLATE = st.lists(st.sampled_from(WORDS), max_size=12).map("".join)
KEYS = ["language", "intents", "lists", "expansion_rules", "skip_words", "student", "context", "library", "data",
        "sentences", "slots", "values", "in", "out", "range", "from", "to", "step", "multiplier", "wildcard",
        "requires_context", "excludes_context", "response", "intent", "expressions", "labels", "name", "unknown",
        "silence", "metadata", "expansion_rules", "area", "format", "frontend", "files", "default_file"]
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                   st.sampled_from(["en", "de", "xx", "", " ", "home-assistant-intents", "_unknown_", "_silence_",
                                    "yes", "no"]),
                   TEMPLATE, st.text(max_size=20))
DATA = st.recursive(LEAVES, lambda kids: st.one_of(
    st.lists(kids, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), kids, max_size=5),
    st.dictionaries(st.one_of(st.integers(-3, 3), st.none(), st.booleans()), kids, max_size=2)), max_leaves=24)


def maybe(strategy):
    """``strategy``, or (sometimes) anything at all in its place."""
    return st.one_of(strategy, strategy, strategy, DATA)


def maybe_key(strategy):
    """``strategy``, or (sometimes) any other mapping key YAML can hold."""
    return st.one_of(strategy, strategy, strategy, st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=8))


LIST_DEF = st.one_of(
    st.fixed_dictionaries({"values": maybe(st.lists(st.one_of(
        TEMPLATE, st.fixed_dictionaries({"in": maybe(TEMPLATE), "out": maybe(LEAVES)})), max_size=4))}),
    st.fixed_dictionaries({"range": maybe(st.fixed_dictionaries(
        {"from": maybe(st.integers(-10, 10**4)), "to": maybe(st.integers(-10, 10**4))},
        optional={"step": maybe(st.integers(-2, 10)), "multiplier": maybe(st.floats(-2, 10))}))}),
    st.fixed_dictionaries({"wildcard": maybe(st.booleans())}))
INTENT_BLOCK = st.fixed_dictionaries(
    {"sentences": maybe(st.lists(TEMPLATE, max_size=4))},
    optional={"slots": maybe(st.dictionaries(st.sampled_from(["name", "area", "x"]), LEAVES, max_size=2)),
              "requires_context": maybe(st.dictionaries(st.sampled_from(["area", "name"]), LEAVES, max_size=2)),
              "excludes_context": maybe(st.dictionaries(st.sampled_from(["area"]), LEAVES, max_size=1)),
              "expansion_rules": maybe(st.dictionaries(st.sampled_from(["name", "area", "r"]), TEMPLATE, max_size=2))})
SLOT_NAMES = st.sampled_from(["name", "area", "volume", "brightness", "x"])
INTENTS_DOC = st.fixed_dictionaries(
    {"language": maybe(st.sampled_from(["en", "en", "de", "xx"])),
     "intents": maybe(st.dictionaries(st.sampled_from(["HassTurnOn", "VolumeUp", "X", ""]),
                                      maybe(st.fixed_dictionaries({"data": maybe(st.lists(INTENT_BLOCK, max_size=3))})),
                                      max_size=3))},
    optional={"lists": maybe(st.dictionaries(SLOT_NAMES, maybe(LIST_DEF), max_size=3)),
              "expansion_rules": maybe(st.dictionaries(SLOT_NAMES, maybe(TEMPLATE), max_size=3)),
              "skip_words": maybe(st.lists(TEMPLATE, max_size=3)),
              "student": maybe(st.dictionaries(maybe_key(st.sampled_from(["yes", "no", "on"])), maybe(
                  st.fixed_dictionaries({"intent": maybe(st.sampled_from(["HassTurnOn", "X"]))},
                                        optional={"slots": maybe(st.dictionaries(SLOT_NAMES, LEAVES, max_size=2)),
                                                  "response": maybe(TEMPLATE)})), max_size=3)),
              "context": maybe(st.dictionaries(st.sampled_from(["area", "name"]), LEAVES, max_size=2)),
              "library": st.sampled_from(["home-assistant-intents", "other", "", None, 1])})
RHINO_DOC = st.fixed_dictionaries({"context": st.fixed_dictionaries(
    {"expressions": maybe(st.dictionaries(st.sampled_from(["orderDrink", "x", ""]), maybe(st.lists(st.lists(
        st.sampled_from(["order", "a", "$size:size", "$drink:drink", "(please)", "[a, an]", "[", "]", "(", ")", ",",
                         " ", "$", ":", "[,]", "()", "twelve"]), max_size=8).map(" ".join), max_size=3)), max_size=2))},
    optional={"slots": maybe(st.dictionaries(st.sampled_from(["size", "drink"]), maybe(st.lists(
        st.one_of(TEMPLATE, LEAVES), max_size=3)), max_size=2))})})
SENTENCES = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["turn", "on", "off", "the", "kitchen", "light", "lights", "set", "volume", "to", "50",
                              "percent", "%", "up", "down", "stop", "play", "music", "next", "yes", "no", "please",
                              "brightness", "temperature", "what", "is", "time", "timer", "for", "5", "minutes", "on",
                              "on", ",", ".", "!", "?", "'", "ü", "日本"]), max_size=40).map(" ".join))


@FUZZ
@given(data=st.one_of(DATA, INTENTS_DOC, INTENTS_DOC, RHINO_DOC), text=SENTENCES)
@example(data={"intents": {}, "student": [1]}, text="yes")
@example(data={"language": "en", "intents": {}, "student": {"a": {"intent": "X", "slots": [1]}}}, text="a")
@example(data={"language": "en", "intents": {"X": {"data": [{"sentences": ["{missing}"]}]}}}, text="anything")
@example(data={"language": "en", "intents": {"X": {"data": [{"sentences": ["{n}"]}]}},
               "lists": {"n": {"range": {"from": 0, "to": 10**9}}}}, text="12345")
def test_intent_set_of_arbitrary_data(data, text: str) -> None:
    result = outcome(lambda: IntentSet(data, "fuzz.yaml"), (LabelSetError,))
    if isinstance(result, IntentSet) and not (isinstance(data, dict) and data.get("library")):
        # a set that loads must also answer: no first-transcript crash (the library's ~0.4 s parse is skipped)
        match = outcome(lambda: result.from_text(text), ())
        assert match is None or isinstance(match, IntentMatch)
        label = outcome(lambda: result.from_label(text), ())
        assert label is None or isinstance(label, IntentMatch)


YAML_TOKENS = st.sampled_from([
    "language: en\n", "intents:\n", "  X:\n", "    data:\n", "      - sentences: [", "]\n", "labels:\n",
    '  "yes": ["yes"]\n', "  yes: yes\n", "unknown: ", "silence: ", "null\n", "~\n", "{", "}", "[", "]", ",",
    ": ", "- ", "\n", "  ", "\t", "&a ", "*a ", "*b", "<<: *a\n", "!!int ", "!!float ", "!!binary ", "!!timestamp ",
    "!!python/object:os.system ", "!!str ", "!!set ", "!!omap ", "? ", "2001-13-01", "2001-02-29 ", "1e999",
    ".nan", ".inf", "0x1F", "0o9", "'", '"', "\\", "\\x", "#", "%YAML 1.1\n", "---\n", "...\n", "|\n", ">\n",
    "\x00", "\x85", "\ufeff", "\ud7ff", "ü", "日本", "{x: 1, x: 2}", "[" * 200, "{a: " * 100])
YAML_TEXT = st.one_of(st.text(max_size=300), st.lists(YAML_TOKENS, max_size=30).map("".join),
                      DATA.map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
                      INTENTS_DOC.map(lambda d: yaml.safe_dump(d, allow_unicode=True)))


@FUZZ
@given(text=YAML_TEXT, cut=st.one_of(st.none(), st.integers(0, 400)))
@example(text="[" * 5000, cut=None)  # nesting deeper than PyYAML's recursion
@example(text="a: 2001-13-01", cut=None)  # a date that matches YAML's pattern but is no date
@example(text="!!float abc", cut=None)
def test_read_yaml_of_random_text(scratch: Path, text: str, cut) -> None:
    path = scratch / "random.yaml"
    path.write_text(text[:cut], encoding="utf-8", errors="surrogatepass")
    for package, builtins, what, reader in (("assistant.intents", ("home",), "intents", IntentSet),
                                            ("assistant.labelsets", ("digits",), "label-set", LabelSet.from_dict)):
        result = outcome(lambda: read_yaml(path, package, builtins, what), (LabelSetError,))
        if isinstance(result, tuple):
            data, source = result
            assert source == str(path)
            outcome(lambda: reader(data, source) if reader is IntentSet else reader(data, source=source),
                    (LabelSetError,))


@pytest.fixture(scope="module", params=["home", "home-assistant"])
def intents(request: pytest.FixtureRequest) -> IntentSet:
    return IntentSet.load(request.param)


@FUZZ
@given(text=SENTENCES)
@example(text="")
@example(text="on on on on")
@example(text="turn on the " + "light " * 300)
def test_from_text_never_raises(intents: IntentSet, text: str) -> None:
    match = outcome(lambda: intents.from_text(text), ())
    assert match is None or (isinstance(match, IntentMatch) and isinstance(match.slots, dict))


# ------------------------------------------------------------------------------------------ label sets

LABELSET_DOC = st.fixed_dictionaries(
    {"labels": maybe(st.dictionaries(maybe_key(st.sampled_from(["yes", "no", "_unknown_", "seven", ""])),
                                     maybe(st.one_of(st.lists(maybe(st.sampled_from(["yes", "7", " ", ""])),
                                                              max_size=3), st.text(max_size=5))), max_size=4))},
    optional={"name": LEAVES, "unknown": maybe(st.sampled_from(["_unknown_", "yes", None])),
              "silence": maybe(st.sampled_from(["_silence_", "_unknown_", None]))})

GOOD_LABELSET = st.fixed_dictionaries(  # mostly valid: the success path gets its share of the examples
    {"labels": st.dictionaries(st.sampled_from(["yes", "no", "seven", "up", "_x_", "ü"]),
                               st.one_of(st.lists(st.sampled_from(["yes", "7", "seven", " sieben ", "日本"]),
                                                  min_size=1, max_size=3), st.sampled_from(["yes", "7"])),
                               min_size=1, max_size=4)},
    optional={"name": st.one_of(st.text(max_size=10), st.none()), "unknown": st.sampled_from(["_unknown_", None, "no"]),
              "silence": st.sampled_from(["_silence_", None, "_unknown_"])})


def expect_labelset(result: object) -> None:
    if isinstance(result, LabelSetError):
        return
    assert isinstance(result, LabelSet)
    assert result.commands and len(result.commands) == len(result.phrases)
    assert all(p and all(isinstance(f, str) and f for f in p) for p in result.phrases)
    assert len(set(result.labels)) == len(result.labels)
    assert isinstance(result.id, str) and isinstance(result.to_dict(), dict)
    again = LabelSet.from_dict(result.to_dict(), source="round trip")  # what it writes, it reads
    assert (again.id, again.labels, again.phrases) == (result.id, result.labels, result.phrases)


@FUZZ
@given(doc=st.one_of(GOOD_LABELSET, LABELSET_DOC, LABELSET_DOC, DATA), as_json=st.booleans(),
       suffix=st.sampled_from([".yaml", ".json"]), cut=st.one_of(st.none(), st.none(), st.integers(0, 200)))
def test_load_labelset_of_random_files(scratch: Path, doc, as_json: bool, suffix: str, cut) -> None:
    try:
        text = json.dumps(doc, allow_nan=True) if as_json else yaml.safe_dump(doc, allow_unicode=True)
    except (TypeError, ValueError):  # keys JSON cannot hold
        text = repr(doc)
    path = scratch / f"labels{suffix}"
    path.write_text(text[:cut], encoding="utf-8")
    expect_labelset(outcome(lambda: load_labelset(path), (LabelSetError,)))


@FUZZ
@given(data=st.one_of(GOOD_LABELSET, LABELSET_DOC, DATA),
       source=st.sampled_from(["label set", "x.yaml", "", "/a/b.json"]))
def test_labelset_from_dict_of_random_data(data, source: str) -> None:
    expect_labelset(outcome(lambda: LabelSet.from_dict(data, source=source), (LabelSetError,)))


# ----------------------------------------------------------------------------------- model directories

FRONTEND = st.fixed_dictionaries({}, optional={
    k: maybe(v) for k, v in {"sample_rate": st.sampled_from([16000, 16000, 8000, 0]),
                             "n_fft": st.sampled_from([400, 0, -1, 10**9]), "hop": st.sampled_from([160, 0, 401]),
                             "n_mels": st.sampled_from([40, 0, -5]),
                             "f_min": st.floats(allow_nan=True), "f_max": st.floats(allow_nan=True),
                             "window_seconds": st.one_of(st.sampled_from([1.0, 0.0, -1.0, 1e300]),
                                                         st.floats(allow_nan=True))}.items()})
MANIFEST_DOC = st.fixed_dictionaries(
    {"format": st.sampled_from([FORMAT, FORMAT, FORMAT, "voice-assistant-student/2", None, 1]),
     "frontend": maybe(FRONTEND), "labels": maybe(st.lists(st.sampled_from(["yes", "no", "_unknown_"]), max_size=4)),
     "files": maybe(st.dictionaries(st.sampled_from(["model.onnx", "model.int8.onnx", "", "../x", "/etc/passwd"]),
                                    maybe(st.text(alphabet="0123456789abcdef", max_size=64)), max_size=2)),
     "default_file": maybe(st.sampled_from(["model.onnx", "model.int8.onnx", "", "a\x00b", "../../x"]))},
    optional={"name": LEAVES, "version": LEAVES, "dims": DATA})

GOOD_MANIFEST = st.fixed_dictionaries(  # mostly valid: the success path gets its share of the examples
    {"format": st.just(FORMAT),
     "frontend": st.fixed_dictionaries({}, optional={"n_fft": st.sampled_from([400, 512]), "hop": st.just(160),
                                                     "window_seconds": st.sampled_from([1.0, 0.5, 1.5, 0.0])}),
     "labels": st.lists(st.sampled_from(["yes", "no", "_unknown_", "_silence_"]), min_size=1, max_size=4),
     "files": st.just({"model.onnx": "0" * 64}), "default_file": st.sampled_from(["model.onnx", "model.onnx", "x"])},
    optional={"name": LEAVES, "version": LEAVES, "dims": DATA})


@FUZZ
@given(content=st.one_of(st.binary(max_size=300).map(lambda b: ("bytes", b)), DATA.map(lambda d: ("json", d)),
                         MANIFEST_DOC.map(lambda d: ("json", d)), GOOD_MANIFEST.map(lambda d: ("json", d))),
       cut=st.one_of(st.none(), st.none(), st.integers(0, 300)))
@example(content=("json", []), cut=None)  # JSON that is no object
@example(content=("json", {"format": FORMAT, "frontend": {}, "labels": ["a"], "files": {}, "default_file": []}),
         cut=None)  # an unhashable file name
def test_manifest_read_of_random_content(scratch: Path, content, cut) -> None:
    kind, value = content
    model_dir = scratch / "model" / "v1"
    model_dir.mkdir(parents=True, exist_ok=True)
    raw = value if kind == "bytes" else json.dumps(value, allow_nan=True).encode()
    (model_dir / MANIFEST).write_bytes(raw[:cut])
    result = outcome(lambda: Manifest.read(model_dir), (ModelError,))
    if isinstance(result, Manifest):
        assert result.labels and result.default_file in result.files and isinstance(result.version, str)


def _real_onnx() -> bytes:
    return (REAL_MODEL / "model.onnx").read_bytes()


ONNX_EDITS = st.lists(st.tuples(st.sampled_from(["flip", "byte", "truncate"]),
                                 st.one_of(st.integers(0, 255), st.integers(0, 2**31)), st.integers(0, 255)),
                       max_size=4)


def corrupted_onnx(edits: list[tuple[str, int, int]]) -> bytes:
    """The shipped student's ONNX bytes with bits flipped, bytes overwritten or the file cut short."""
    raw = bytearray((REAL_MODEL / "model.onnx").read_bytes())
    for op, at, value in edits:
        if not raw:
            break
        i = at % len(raw)
        if op == "flip":
            raw[i] ^= 1 << (value % 8)
        elif op == "byte":
            raw[i] = value
        else:
            del raw[i:]
    return bytes(raw)


@FUZZ
@given(model=st.one_of(st.binary(max_size=512), ONNX_EDITS), right_sum=st.sampled_from([True, True, True, False]),
       labels=st.sampled_from([None, ["yes"], ["a"] * 40]), window=st.sampled_from([None, 0.5, 1e300, math.nan]))
@example(model=b"", right_sum=True, labels=None, window=None)
@example(model=b"not a model", right_sum=True, labels=None, window=None)
@example(model=[], right_sum=True, labels=None, window=math.nan)  # the real model, a window of NaN seconds
def test_student_of_garbage_onnx(scratch: Path, model, right_sum: bool, labels, window) -> None:
    """Garbage or a corrupted ONNX file (``model``: bytes, or edits of the shipped student's file), or a
    manifest that does not fit it: a :class:`Student`, or ModelError (one line), never another error."""
    model = model if isinstance(model, bytes) else corrupted_onnx(model)
    model_dir = scratch / "student" / "v1"
    model_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((REAL_MODEL / MANIFEST).read_text())
    manifest["files"] = {"model.onnx": hashlib.sha256(model).hexdigest() if right_sum else "0" * 64}
    manifest["default_file"] = "model.onnx"
    if labels is not None:
        manifest["labels"] = labels
    if window is not None:
        manifest["frontend"]["window_seconds"] = window
    (model_dir / MANIFEST).write_text(json.dumps(manifest, allow_nan=True))
    (model_dir / "model.onnx").write_bytes(model)
    result = outcome(lambda: Student(model_dir), (ModelError,))
    if isinstance(result, Student):
        event("a corrupted model still loads")


# ---------------------------------------------------------------------------------------- the server

class FakeTeacher:
    """Enough of :class:`~assistant.teacher.Teacher` for the server: a fixed transcript, instantly."""

    @property
    def id(self) -> str:
        return "fake-teacher"

    def hear(self, audio):
        from assistant.teacher.base import Transcript

        return Transcript("x", 0.0, 0.0)

    def hear_batch(self, audios):
        return [self.hear(a) for a in audios]


MAX_UPLOAD = 64 * 1024


@pytest.fixture(scope="module")
def client():
    from fastapi.testclient import TestClient

    from assistant.server import create_app

    app = create_app(FakeTeacher(), IntentSet.load("home"), max_bytes=MAX_UPLOAD, max_seconds=5.0)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@st.composite
def uploads(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "wav", "corrupted", "big"]))
    if kind == "bytes":
        return draw(MAGIC) + draw(st.binary(max_size=2048))
    if kind == "corrupted":
        return draw(corrupted())
    if kind == "big":
        return b"RIFF" + bytes(draw(st.sampled_from([MAX_UPLOAD - 4, MAX_UPLOAD - 3, MAX_UPLOAD * 2])))
    x, rate = draw(signals(max_frames=4000))
    fmt = draw(st.sampled_from(sorted(SUBTYPES)))
    return _written(x, rate, fmt, draw(st.sampled_from(SUBTYPES[fmt]))) or b""


FIELD = st.one_of(st.sampled_from(["json", "text", "verbose_json", "whisper-1", ""]), st.text(max_size=20))


def post(client, path: str, data: bytes | None, form: dict, filename: str, ctype: str):
    files = None if data is None else {"file": (filename, data, ctype)}
    response = outcome(lambda: client.post(path, files=files, data=form), ())
    assert response.status_code == 200 or 400 <= response.status_code < 500, \
        f"{response.status_code}: {response.text[:300]}"
    event(f"status {response.status_code}")
    if response.status_code != 200:
        detail = response.json()["detail"]
        line = detail if isinstance(detail, str) else json.dumps(detail)
        assert line and "\n" not in line and "\r" not in line, f"a detail of more than one line: {line!r}"
    return response


UPLOAD_ARGS = dict(data=st.one_of(uploads(), uploads(), uploads(), st.none()),
                   filename=st.one_of(st.sampled_from(["a.wav", "", "x.flac", "../../etc/passwd"]),
                                      st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)),
                   ctype=st.sampled_from(["audio/wav", "application/octet-stream", "text/plain", "", "audio/flac"]))


@FUZZ
@given(form=st.fixed_dictionaries({}, optional={"model": FIELD, "response_format": FIELD}), **UPLOAD_ARGS)
def test_server_transcriptions_upload(client, data, form: dict, filename: str, ctype: str) -> None:
    response = post(client, "/v1/audio/transcriptions", data, form, filename, ctype)
    if response.status_code == 200:
        body = response.text if form.get("response_format") == "text" else response.json()["text"]
        assert body == "x"


@FUZZ
@given(form=st.fixed_dictionaries({}, optional={"extra": FIELD}), **UPLOAD_ARGS)
def test_server_intent_upload(client, data, form: dict, filename: str, ctype: str) -> None:
    response = post(client, "/v1/intent", data, form, filename, ctype)
    if response.status_code == 200:
        body = response.json()
        assert body["text"] == "x" and body["in_grammar"] is False
