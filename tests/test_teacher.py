"""The real bundled Whisper teacher: parity between backends, soft labels, bad input, weights cache."""

from __future__ import annotations

from dataclasses import replace

import os
from pathlib import Path

import numpy as np
import pytest

from assistant.audio import load_audio
from assistant.errors import AudioError, ModelError
from assistant.labelset import load_labelset

from .conftest import COMMANDS, sample

pytestmark = pytest.mark.slow


def test_transformers_and_ctranslate2_logits_agree(hf_teacher, ct2_teacher) -> None:
    for label in ("yes", "stop", "_silence_"):
        audio = load_audio(sample(label)).samples
        a, b = hf_teacher.next_token_logits(audio), ct2_teacher.next_token_logits(audio)
        assert a.shape == b.shape == (51864,)
        assert np.abs(a - b).max() < 1e-3
        x = hf_teacher.label_batch([audio], load_labelset("speech_commands"))[0]
        y = ct2_teacher.label_batch([audio], load_labelset("speech_commands"))[0]
        assert abs(x.transcript.no_speech_prob - y.transcript.no_speech_prob) < 1e-3
        assert x.transcript.text == y.transcript.text


def test_fast_path_matches_the_transformers_forward(hf_teacher) -> None:
    """Our shortened-window forward equals WhisperForConditionalGeneration on a full 30 s window."""
    import torch

    from assistant.teacher.features import log_mel

    audio = load_audio(sample("left")).samples
    mel = log_mel(audio, 3000)
    prompt = list(hf_teacher.vocab.prompt)
    with torch.inference_mode():
        ref = hf_teacher.model(input_features=torch.from_numpy(mel[None]),
                               decoder_input_ids=torch.tensor([prompt])).logits[0, -1].numpy()
    ours = hf_teacher._prefix_logits(hf_teacher._encode(mel[None]), prompt)[0]
    assert np.abs(ref - ours).max() < 1e-3


def test_soft_labels_sum_to_one_and_are_deterministic(hf_teacher, labelset) -> None:
    clips = [load_audio(p).samples for p in sorted(COMMANDS.glob("*/*.flac"))[:6]]
    first = hf_teacher.label_batch(clips, labelset)
    again = hf_teacher.label_batch(clips, labelset)
    single = [hf_teacher.label_batch([c], labelset)[0] for c in clips[:2]]
    for a, b in zip(first, again):
        assert a.probs.shape == (12,)
        assert np.isclose(a.probs.sum(), 1.0, atol=1e-6)
        assert np.array_equal(a.log_probs, b.log_probs) and a.transcript.text == b.transcript.text
    for a, s in zip(first, single):  # batching does not change the answer
        assert np.allclose(a.probs, s.probs, atol=1e-4)


def test_teacher_hears_the_shipped_samples(hf_teacher, ct2_teacher, labelset) -> None:
    paths = sorted(COMMANDS.glob("*/*.flac"))
    clips = [load_audio(p).samples for p in paths]
    for teacher in (hf_teacher, ct2_teacher):
        answers = teacher.label_batch(clips, labelset, with_transcript=False)
        right = [a.top == p.parent.name for a, p in zip(answers, paths)]
        commands = [r for r, p in zip(right, paths) if not p.parent.name.startswith("_")]
        assert sum(commands) >= len(commands) - 1, f"{teacher.id}: commands {sum(commands)}/{len(commands)}"
        assert sum(right) >= 0.85 * len(paths), f"{teacher.id}: {sum(right)}/{len(paths)}"


def test_transcribe(hf_teacher, ct2_teacher) -> None:
    audio = load_audio(sample("yes")).samples
    for teacher in (hf_teacher, ct2_teacher):
        t = teacher.transcribe(audio)
        assert "yes" in t.text.lower() and 0.0 <= t.no_speech_prob <= 1.0 and t.seconds > 0


def test_hear_drops_what_whisper_hallucinates_in_noise(ct2_teacher, shared_data) -> None:
    kitchen = load_audio(shared_data / "noise" / "kitchen.flac", max_seconds=None).samples
    noise = kitchen[int(48.1 * 16000):int(49.0 * 16000)]
    assert ct2_teacher.transcribe(noise).text  # Whisper alone hears words ("Okay.") in this noise
    heard = ct2_teacher.hear(noise)
    assert heard.text == "" and heard.noise_prob is not None and heard.noise_prob >= 0.5
    said = ct2_teacher.hear(load_audio(sample("yes")).samples)
    assert "yes" in said.text.lower() and said.noise_prob < 0.5


def test_transcribe_longer_than_one_window(ct2_teacher) -> None:
    audio = load_audio(sample("yes")).samples
    long = np.concatenate([audio, np.zeros(16000 * 31, np.float32), audio])
    text = ct2_teacher.transcribe(long).text.lower()
    assert text.count("yes") >= 2


def test_digital_silence_is_silence(hf_teacher, labelset) -> None:
    assert hf_teacher.label_batch([np.zeros(16000, np.float32)], labelset)[0].top == "_silence_"


@pytest.mark.parametrize("bad, match", [
    (np.array([np.nan] * 16000, np.float32), "NaN"),
    (np.zeros(0, np.float32), "non-empty"),
    (np.zeros(16000 * 31, np.float32), "too long"),
    (np.zeros((16000, 2), np.float32), "mono"),
])
def test_bad_arrays_are_refused(hf_teacher, labelset, bad, match) -> None:
    with pytest.raises(AudioError, match=match):
        hf_teacher.score(bad, labelset)


def test_digits_labelset(hf_teacher) -> None:
    digits = load_labelset("digits")
    from training.synth import Voice, synthesize

    audio = synthesize("seven", Voice("piper-joe"))
    lp = hf_teacher.score(audio, digits)
    assert lp.shape == (10,) and digits.labels[int(np.argmax(lp))] == "7"


def test_every_tts_engine_is_heard_as_the_word(hf_teacher) -> None:
    """Piper, hibari (deeper and higher pitch), Kokoro blends and espeak-ng voices all say the phrase, at 16 kHz."""
    from training.synth import espeak_available, synthesize, voices

    vs = voices(n_piper=1, n_espeak=1 if espeak_available() else 0, n_hibari=2, n_kokoro=2, seed=3)
    vs += [replace(vs[1], noise_scale=0.8), replace(vs[1], noise_scale=1.2)]
    digits = load_labelset("digits")
    lengths, kokoro = [], []
    for v in vs:
        audio = synthesize("seven", v)
        assert audio.dtype == np.float32 and 0.3 < audio.size / 16000 < 2.0, v
        assert digits.labels[int(np.argmax(hf_teacher.score(audio, digits)))] == "7", v
        if v.engine.startswith("hibari"):
            lengths.append(audio.size)
        if v.engine.startswith("kokoro"):
            kokoro.append(audio)
    assert max(lengths[-2:]) / min(lengths[-2:]) < 1.2  # a pitch shift keeps the length
    a, b = kokoro
    assert a.size != b.size or not np.allclose(a, b, atol=1e-3)  # two blends: two speakers


def test_unknown_model_and_backend() -> None:
    from assistant.teacher import load_teacher

    with pytest.raises(ModelError, match="unknown teacher model"):
        load_teacher("large-v9")
    with pytest.raises(ModelError, match="unknown teacher backend"):
        load_teacher("tiny.en", "tensorflow")


def test_not_a_whisper_directory(tmp_path: Path) -> None:
    from assistant.teacher import load_teacher

    with pytest.raises(ModelError, match="not a Whisper model directory"):
        load_teacher(tmp_path)


def test_converted_checkpoint_is_checksummed_and_rebuilt(tmp_path: Path, monkeypatch) -> None:
    from assistant.teacher import weights

    monkeypatch.setenv("ASSISTANT_CACHE", str(tmp_path))
    files = weights.resolve("tiny.en")
    out = weights.hf_checkpoint(files)
    assert (out / "SHA256SUMS").is_file() and out.is_relative_to(tmp_path)
    st = out / "model.safetensors"
    data = bytearray(st.read_bytes())
    data[-100] ^= 0xFF  # flip a byte in the weights
    st.write_bytes(bytes(data))
    again = weights.hf_checkpoint(files)
    assert weights._verify(again)
    # and a local HF directory loads directly ("any local Whisper directory")
    from assistant.teacher import load_teacher

    teacher = load_teacher(again, threads=1)
    assert teacher.transcribe(load_audio(sample("yes")).samples).text.lower().startswith("yes")


def test_corrupt_ct2_weights_are_refused(tmp_path: Path) -> None:
    from assistant.teacher import weights

    (tmp_path / "model.bin").write_bytes(b"\x06\x00\x00\x00garbage")
    with pytest.raises(ModelError, match="CTranslate2"):
        weights.read_ct2(tmp_path / "model.bin")


@pytest.mark.skipif(os.environ.get("SKIP_BASE") == "1", reason="SKIP_BASE=1")
def test_base_model_loads_and_scores(labelset) -> None:
    from assistant.teacher import load_teacher

    teacher = load_teacher("base", "ctranslate2", threads=2)
    assert teacher.vocab.sot_sequence[0] == 50258  # multilingual: <|startoftranscript|><|en|><|transcribe|>
    assert teacher.label_batch([load_audio(sample("right")).samples], labelset)[0].top == "right"


def test_teacher_on_real_speech_commands(hf_teacher, labelset, shared_data: Path) -> None:
    """A few real clips per class from held-out speakers: the teacher's argmax is mostly right."""
    from training.corpus import find_clips, select

    clips = select(find_clips([shared_data / "gsc_v2_test_dev"]), "test")
    per_class: dict[str, list] = {}
    for c in clips:
        if len(per_class.setdefault(c.folder_label, [])) < 3:
            per_class[c.folder_label].append(c)
    chosen = [c for cs in per_class.values() for c in cs]
    assert len(chosen) == 36
    answers = hf_teacher.label_batch([load_audio(c.path).samples for c in chosen], labelset, with_transcript=False)
    right = sum(a.top == c.folder_label for a, c in zip(answers, chosen))
    assert right >= 30, f"{right}/36"
