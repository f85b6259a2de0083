"""The student: distillation loss, front end, streaming == batch, ONNX parity, model directory and registry."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from assistant.errors import ModelError
from assistant.frontend import FrontEnd
from assistant.registry import PACKAGE_ROOT, Registry, default_root, writable_registry, writable_root
from assistant.stream import batch_windows, stream_windows
from assistant.student import Student
from training.distill import distill_loss
from training.export import build_model_dir
from training.model import Student as StudentNet, StudentDims, count_parameters, mel_shift, random_eq

FE = FrontEnd()
LABELS = ("yes", "no", "_unknown_", "_silence_")


def _net(seed: int = 0) -> StudentNet:
    torch.manual_seed(seed)
    return StudentNet(FE, StudentDims(n_classes=len(LABELS))).eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "v1"
    x = np.random.default_rng(0).standard_normal((40, FE.window_samples)).astype(np.float32) * 0.1
    build_model_dir(_net(), out, {"labels": list(LABELS), "frontend": FE.to_dict(), "dims": {}}, x[:20], x[20:],
                    np.zeros(20, np.int64))
    return out


def test_default_size_is_small() -> None:
    assert count_parameters(StudentNet(FE, StudentDims(n_classes=12))) <= 30_000


def test_loss_decreases_on_a_tiny_batch() -> None:
    torch.manual_seed(0)
    net = StudentNet(FE, StudentDims(n_classes=4, dropout=0.0)).train()
    net.spec_augment = False
    x = torch.randn(8, FE.window_samples) * 0.1
    soft = torch.softmax(torch.randn(8, 4) * 3, dim=1)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = distill_loss(net(x), soft, temperature=2.0, alpha=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_distill_loss_is_zero_only_at_the_teacher() -> None:
    p = torch.tensor([[0.7, 0.2, 0.1]])
    at_teacher = distill_loss(torch.log(p), p, temperature=2.0, alpha=0.0)
    assert float(at_teacher) < 1e-5
    assert float(distill_loss(torch.zeros(1, 3), p, temperature=2.0, alpha=0.0)) > 0.01


def test_the_cross_entropy_weighs_less_where_the_teacher_was_unsure() -> None:
    """``ce_confidence`` γ: per-example CE times top ** γ over its batch mean; 0 is the plain loss, and a batch
    of equally sure examples gives the same loss whatever γ."""
    import torch.nn.functional as F

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    p = torch.tensor([[0.99, 0.005, 0.005], [0.4, 0.35, 0.25]])
    plain = distill_loss(logits, p, 2.0, 0.5)
    assert torch.allclose(plain, distill_loss(logits, p, 2.0, 0.5, 0.0))
    kl = distill_loss(logits, p, 2.0, 0.0)
    ce = F.cross_entropy(logits, p.argmax(1), reduction="none")
    w = p.max(1).values ** 2
    assert torch.allclose(distill_loss(logits, p, 2.0, 0.5, 2.0), kl + 0.5 * (ce * w / w.mean()).mean())
    same = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    assert torch.allclose(distill_loss(logits, same, 2.0, 0.5, 3.0), distill_loss(logits, same, 2.0, 0.5))


def test_front_end_shape_and_sine_peak() -> None:
    from training.model import LogMel

    t = np.arange(FE.window_samples) / 16000
    x = torch.tensor(np.sin(2 * np.pi * 1000 * t)[None], dtype=torch.float32)
    mel = LogMel(FE)(x)
    assert mel.shape == (1, FE.n_mels, FE.frames)
    from training.model import mel_filterbank

    centres = (mel_filterbank(FE) * (np.arange(FE.n_bins) * 16000 / FE.n_fft)).sum(1) / mel_filterbank(FE).sum(1)
    assert abs(centres[int(mel[0].mean(1).argmax())] - 1000) < 150


@pytest.mark.parametrize("chunk", [160, 333, 1600, 16000, 40000])
def test_streaming_windows_equal_batch_windows(chunk: int) -> None:
    audio = np.random.default_rng(1).standard_normal(16000 * 3 + 123).astype(np.float32)
    ends, batch = batch_windows(audio, FE.window_samples, 1600)
    streamed = list(stream_windows((audio[i:i + chunk] for i in range(0, audio.size, chunk)), FE.window_samples, 1600))
    assert [e for e, _ in streamed] == list(ends)
    assert all(np.array_equal(w, b) for (_, w), b in zip(streamed, batch))


def test_streaming_logits_equal_batch_logits(model_dir: Path) -> None:
    student = Student(model_dir, file="model.onnx")
    audio = np.random.default_rng(2).standard_normal(16000 * 2).astype(np.float32) * 0.1
    _, windows = batch_windows(audio, FE.window_samples, 1600)
    batch = student.logits(windows)
    stream = np.stack([student.logits(w)[0] for _, w in stream_windows(np.array_split(audio, 37), FE.window_samples, 1600)])
    assert np.allclose(batch, stream, atol=1e-5)


def test_onnx_matches_torch(model_dir: Path) -> None:
    net = _net()
    x = np.random.default_rng(3).standard_normal((5, FE.window_samples)).astype(np.float32) * 0.2
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    assert np.abs(Student(model_dir, file="model.onnx").logits(x) - ref).max() < 1e-3


def test_int8_stays_close(tmp_path: Path) -> None:
    from training.export import export_onnx, quantize_int8

    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    export_onnx(_net(), fp32, FE.window_samples)
    x = np.random.default_rng(4).standard_normal((30, FE.window_samples)).astype(np.float32) * 0.2
    quantize_int8(fp32, int8, x[:20])
    import onnxruntime as ort

    a, b = (ort.InferenceSession(str(p)).run(None, {"audio": x[20:]})[0] for p in (fp32, int8))
    pa, pb = (np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
              for z in (a, b))
    assert np.abs(pa - pb).max() < 0.1


def test_compacted_int8_computes_the_same_and_is_smaller(tmp_path: Path) -> None:
    """Short names and a sparse mel table: the same logits bit for bit, a third smaller."""
    import shutil

    import onnxruntime as ort

    from training.export import compact, export_onnx, quantize_int8

    fp32, int8, small = tmp_path / "m.onnx", tmp_path / "m.int8.onnx", tmp_path / "small.onnx"
    export_onnx(_net(), fp32, FE.window_samples)
    x = np.random.default_rng(5).standard_normal((12, FE.window_samples)).astype(np.float32) * 0.2
    quantize_int8(fp32, int8, x[:6], small=False)
    shutil.copy(int8, small)
    compact(small)
    a, b = (ort.InferenceSession(str(p)).run(None, {"audio": x[6:]})[0] for p in (int8, small))
    assert np.array_equal(a, b)
    assert small.stat().st_size < 0.75 * int8.stat().st_size


def test_a_compacted_float_model_quantises_like_the_original(tmp_path: Path) -> None:
    """int8 from a compacted float file (unnamed nodes, sparse mel table) equals int8 from the exported
    one: the front end is still found and left in float."""
    import shutil

    import onnxruntime as ort

    from training.export import compact, export_onnx, quantize_int8

    fp32, small = tmp_path / "m.onnx", tmp_path / "small.onnx"
    export_onnx(_net(), fp32, FE.window_samples)
    shutil.copy(fp32, small)
    compact(small)
    x = np.random.default_rng(6).standard_normal((12, FE.window_samples)).astype(np.float32) * 0.2
    quantize_int8(fp32, tmp_path / "a.onnx", x[:6])
    quantize_int8(small, tmp_path / "b.onnx", x[:6])
    a, b = (ort.InferenceSession(str(tmp_path / n)).run(None, {"audio": x[6:]})[0] for n in ("a.onnx", "b.onnx"))
    assert np.array_equal(a, b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.onnx", "b.onnx", "m.onnx", "small.onnx"]


def test_exported_float_model_is_compacted(model_dir: Path) -> None:
    """The registered float file is compacted too; its logits still match torch (``test_onnx_matches_torch``)."""
    import onnx

    g = onnx.load(str(model_dir / "model.onnx")).graph
    assert g.node and not any(n.name or n.doc_string for n in g.node)


def test_int8_ships_only_when_it_pays(model_dir: Path) -> None:
    m = json.loads((model_dir / "manifest.json").read_text())
    chosen = m["export"]["int8"].get("chosen", False)
    assert ("model.int8.onnx" in m["files"]) == chosen == (model_dir / "model.int8.onnx").is_file()
    assert m["default_file"] == ("model.int8.onnx" if chosen else "model.onnx")


def test_manifest_describes_the_model(model_dir: Path) -> None:
    s = Student(model_dir)
    assert s.labels == LABELS and s.frontend == FE
    m = json.loads((model_dir / "manifest.json").read_text())
    assert {"format", "files", "default_file", "export", "frontend", "labels"} <= set(m)


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_corrupt_or_mismatched_model_dirs_are_refused(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model directory"):
        Student(tmp_path / "nothing")
    d = _copy(model_dir, tmp_path / "no-manifest")
    (d / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest.json"):
        Student(d)
    d = _copy(model_dir, tmp_path / "corrupt")
    data = bytearray((d / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        Student(d, file="model.onnx")
    d = _copy(model_dir, tmp_path / "labels")
    m = json.loads((d / "manifest.json").read_text())
    m["labels"] = m["labels"][:-1]
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="classes"):
        Student(d, file="model.onnx")
    d = _copy(model_dir, tmp_path / "window")
    m = json.loads((d / "manifest.json").read_text())
    m["frontend"]["window_seconds"] = 1.5
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match="mismatched"):
        Student(d, file="model.onnx")
    d = _copy(model_dir, tmp_path / "garbage")
    (d / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="damaged"):
        Student(d)


def test_promote_is_atomic(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry(tmp_path / "models")
    for v in ("v1", "v2"):
        _copy(model_dir, reg.root / "kws" / v)
    reg.promote("kws", "v1")
    assert reg.current("kws") == "v1" and reg.next_version("kws") == "v3"

    def crash(*_a, **_k):
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ModelError, match="power cut.*v1 stays in force"):  # one line, the old one in force
        reg.promote("kws", "v2")
    monkeypatch.undo()
    assert reg.current("kws") == "v1"
    assert Student(reg.path("kws")).dir.name == "v1"
    reg.promote("kws", "v2")
    assert reg.current("kws") == "v2"
    with pytest.raises(ModelError, match="no such version"):
        reg.promote("kws", "v9")


def test_new_versions_go_to_the_users_folder_seeded_with_the_shipped_student(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    shipped = Registry(PACKAGE_ROOT)
    before = sorted(p.name for p in (PACKAGE_ROOT / "speech_commands").iterdir())
    monkeypatch.delenv("ASSISTANT_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_root() == PACKAGE_ROOT  # nothing made yet: the assistant runs the shipped student
    reg = writable_registry(None)
    assert reg.root == writable_root() == tmp_path / "data" / "voice-assistant" / "models"
    assert reg.current("speech_commands") == shipped.current("speech_commands")
    assert (reg.path() / "manifest.json").read_bytes() == (shipped.path() / "manifest.json").read_bytes()
    assert default_root() == reg.root  # from now on the user's folder is in force
    assert writable_registry(None).current("speech_commands") == shipped.current("speech_commands")  # idempotent
    assert writable_registry(None, "other").current("other") is None  # nothing shipped to seed it with
    assert sorted(p.name for p in (PACKAGE_ROOT / "speech_commands").iterdir()) == before
    monkeypatch.setenv("ASSISTANT_MODELS", str(tmp_path / "elsewhere"))
    assert writable_registry(None).root == tmp_path / "elsewhere"
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ASSISTANT_MODELS", str(tmp_path / "a-file" / "models"))
    with pytest.raises(ModelError, match="cannot write models to .*a-file.*writable folder"):
        writable_registry(None)


def test_mel_shift_moves_whole_spectra_and_keeps_their_range() -> None:
    torch.manual_seed(0)
    ramp = torch.arange(40.0)[None, None, :, None].repeat(64, 1, 1, 98)
    moved = mel_shift(ramp, 1.5)
    step = moved[:, :, 3:-3].diff(dim=2)  # away from the repeated edges a ramp stays a unit ramp ...
    assert torch.allclose(step, torch.ones_like(step), atol=1e-5)
    offset = moved[:, 0, 20, 0] - 20  # ... moved by at most 1.5 bins, differently per example, same in time
    assert offset.abs().max() <= 1.5 and offset.std() > 0.3
    assert torch.equal(moved[..., :1].expand_as(moved), moved)
    assert moved.min() >= 0 and moved.max() <= 39
    assert torch.allclose(mel_shift(ramp, 1e-6), ramp, atol=1e-4)


def test_random_eq_colours_each_spectrum_smoothly_within_its_bound() -> None:
    torch.manual_seed(0)
    flat = torch.zeros(64, 1, 40, 98)
    coloured = random_eq(flat, 6.0)
    curve = coloured[:, 0, :, 0] / (math.log(10) / 10)  # in dB
    assert torch.equal(coloured[..., :1].expand_as(coloured), coloured)  # one curve per example, all frames
    assert curve.abs().max() <= 6.0 + 1e-4 and curve.std(dim=0).min() > 0.5  # bounded, differs per example
    assert curve.diff(dim=1).abs().max() < 1.5  # smooth: no jumps between neighbouring mel bands


@pytest.mark.slow
def test_shipped_student_and_main_job(tmp_path: Path) -> None:
    """The README's main job: the shipped student and the teacher on audio_samples/, side by side."""
    import subprocess
    import sys

    from tests.conftest import COMMANDS

    student = Student(Registry().path())  # the shipped default loads and checks out
    assert student.labels[-2:] == ("_unknown_", "_silence_")
    bars = student.manifest.extra["decision"]  # its own decision bars, and what they were chosen on
    assert 0 < bars["accept"] <= bars["instant"] <= 1 and bars["chosen_on"]["within_limits"] is True
    models = subprocess.run([sys.executable, "-m", "training.cli", "models", "--registry", str(Registry().root)],
                            capture_output=True, text=True, timeout=60)
    assert models.returncode == 0 and f"bars {bars['accept']} / {bars['instant']}" in models.stdout
    out = subprocess.run([sys.executable, "-m", "training.cli", "evaluate", "speech_commands", str(COMMANDS),
                          "--quiet", "--threads", "2", "--cache", str(tmp_path / "c.sqlite"),
                          "--report-dir", str(tmp_path), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["clips"] == len(list(COMMANDS.rglob("*.flac")))
    assert r["teacher"]["accuracy"]["overall"] >= 0.85  # the teacher hears the synthetic samples
    assert 0.0 <= r["student"]["accuracy"]["overall"] <= 1.0 and Path(r["student"]["confusion_png"]).is_file()


def test_ring_tail_equals_latest_end() -> None:
    from assistant.stream import RingBuffer

    ring = RingBuffer(10)
    data = np.arange(37, dtype=np.float32)
    for i in range(0, 37, 3):
        ring.push(data[i:i + 3])
        for n in (1, 4, 10):
            assert np.array_equal(ring.tail(n), ring.latest()[-n:])


@pytest.mark.parametrize("n_fft,hop,seconds", [(400, 160, 1.0), (400, 160, 1.37), (512, 128, 0.5), (401, 160, 0.3)])
def test_front_end_equals_a_plain_numpy_log_mel(n_fft: int, hop: int, seconds: float) -> None:
    """The mixed-radix DFT is the textbook one: Hann frames, |rfft|^2, mel filterbank, log."""
    from dataclasses import replace

    from training.model import LogMel, mel_filterbank

    fe = replace(FE, n_fft=n_fft, hop=hop, window_seconds=seconds)
    x = np.random.default_rng(1).standard_normal((2, fe.window_samples)).astype(np.float32) * 0.3
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([x[:, i * hop:i * hop + n_fft] for i in range(fe.frames)], 1) * window
    power = np.abs(np.fft.rfft(frames.astype(np.float64), axis=-1)[..., : fe.n_bins]) ** 2
    want = np.log(power @ mel_filterbank(fe).T.astype(np.float64) + 1e-6).transpose(0, 2, 1)
    got = LogMel(fe)(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape == (2, fe.n_mels, fe.frames)
    assert np.abs(got - want).max() < 1e-3


def test_a_side_branch_learns_alone_and_leaves_every_old_output_as_it_was(tmp_path: Path) -> None:
    from training.model import add_branch, load_dir, with_head

    parent = load_dir(Registry(PACKAGE_ROOT).path("speech_commands")).eval()
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((6, FE.window_samples)).astype(np.float32) * 0.1)
    with torch.inference_mode():
        before = parent(x)
    n = parent.dims.n_classes
    rows = list(range(n - 2)) + [None, n - 2, n - 1]  # the new word before _unknown_ and _silence_
    net = add_branch(parent, rows, at=6)
    assert net.dims.branches == (n - 2,) and net.dims.branch_at == 6
    net.train_branch_only(0)
    assert {k.split(".")[0] + "." + k.split(".")[1] for k, p in net.named_parameters() if p.requires_grad} == {"branches.0"}
    net.train()
    assert not net.blocks.training and net.branches[0].training  # frozen parts keep their batch statistics
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    soft = torch.zeros(6, n + 1)
    soft[:, n - 2] = 1.0  # everything is the new word: the branch must move, nothing else may
    for _ in range(3):
        loss = distill_loss(net(x), soft, temperature=2.0, alpha=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.inference_mode():
        after = net(x)
    old = [i for i in range(n + 1) if i != n - 2]
    torch.testing.assert_close(after[:, old], before, rtol=0, atol=0)
    assert (after[:, n - 2] > before.min(1).values).all()  # the new output did learn
    # exported, the old outputs still match the parent's; removing the branch gives the parent back
    out = tmp_path / "v"
    w = np.random.default_rng(0).standard_normal((8, FE.window_samples)).astype(np.float32) * 0.1
    build_model_dir(net, out, {"labels": [f"l{i}" for i in range(n + 1)], "frontend": FE.to_dict(),
                               "dims": net.dims.to_dict()}, w, w, np.zeros(8, np.int64))
    assert load_dir(out).dims == net.dims  # the branch travels with the weights
    onnx = Student(out, file="model.onnx").logits(x.numpy())
    assert np.abs(onnx[:, old] - before.numpy()).max() < 1e-3
    back = with_head(net, old).eval()
    assert back.dims == parent.dims and back.dims.to_dict() == parent.dims.to_dict()
    with torch.inference_mode():
        torch.testing.assert_close(back(x), before, rtol=0, atol=0)
    # a second word gets a second branch (split where the first one does); dropping the first keeps the rest
    two = add_branch(net, list(range(n - 1)) + [None, n - 1, n], at=3).eval()
    assert two.dims.branches == (n - 2, n - 1) and two.dims.branch_at == 6
    one = with_head(two, [i for i in range(n + 2) if i != n - 2]).eval()
    assert one.dims.branches == (n - 2,)
    with torch.inference_mode():
        both = two(x)
        torch.testing.assert_close(both[:, [i for i in range(n + 2) if i != n - 1]], after, rtol=0, atol=0)
        torch.testing.assert_close(one(x), both[:, [i for i in range(n + 2) if i != n - 2]], rtol=0, atol=0)


def test_shipped_v4_loads_matches_its_weights_and_names_its_real_data() -> None:
    """The default student is v4, learnt from every real folder; its ONNX graph (front end inside) gives the
    logits its torch weights give, on speech-like noise and on the shipped samples."""
    from tests.conftest import COMMANDS
    from assistant.audio import load_audio
    from training.model import load_dir

    reg = Registry(PACKAGE_ROOT)
    assert reg.current() == "v4"
    student = Student(reg.path())
    m = student.manifest
    assert m.version == "v4" and m.extra["dims"]["blocks"] == [3, 3, 3, 3]
    assert (reg.path() / "model.onnx").stat().st_size <= 500_000
    real = m.extra["data"]["real_data"]
    assert {Path(k).name for k in real} >= {"gsc_v2_test_dev", "gsc_v01_sample", "gsc_mini_train"}
    assert m.extra["data"]["human_labels_used_for_training"] is False
    clips = [load_audio(p).samples[:16000] for p in sorted(COMMANDS.rglob("*.flac"))[:8]]
    x = np.stack([np.pad(c, (0, 16000 - len(c))) for c in clips]
                 + [np.random.default_rng(0).standard_normal(16000) * 0.05]).astype(np.float32)
    with torch.inference_mode():
        ref = load_dir(reg.path()).eval()(torch.from_numpy(x)).numpy()
    got = student.logits(x)  # the graph holds fp32 weights; the safetensors copy is fp16 (half the bytes)
    assert np.array_equal(got.argmax(1), ref.argmax(1)) and np.abs(got - ref).max() < 0.05
    assert np.abs(student.probs(x) - torch.softmax(torch.from_numpy(ref), 1).numpy()).max() < 2e-3
