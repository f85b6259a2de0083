"""The student: ``nn.Module``s only (no device choice, no I/O).

``LogMel`` is the one front-end definition (settings from :class:`assistant.frontend.FrontEnd`): a
mixed-radix DFT of small matrix products (exports to ONNX opset 17, no complex STFT), an HTK mel
filterbank and a log. ``Student`` = ``LogMel`` + a small BC-ResNet-style CNN (Kim et al. 2021, arXiv 2106.04140),
plus one side branch per word that ``add-intent`` taught it (:func:`add_branch`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from assistant.frontend import FrontEnd

from .dims import StudentDims


def mel_filterbank(fe: FrontEnd) -> np.ndarray:
    """HTK mel filterbank over the computed bins: shape (n_mels, fe.n_bins)."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    bins = np.arange(fe.n_bins) * fe.sample_rate / fe.n_fft
    pts = mel_to_hz(np.linspace(hz_to_mel(np.array(fe.f_min)), hz_to_mel(np.array(fe.f_max)), fe.n_mels + 2))
    lower, centre, upper = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    up = (bins[None] - lower) / (centre - lower)
    down = (upper - bins[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def _radix(n: int) -> int:
    """The divisor of ``n`` closest to 16: the first stage's DFT size (16 x 25 was fastest for n = 400)."""
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - 16), d))


class LogMel(nn.Module):
    """Waveform (B, samples) -> log-mel (B, n_mels, frames); no padding, so streaming windows match.

    The DFT of each Hann-windowed frame is a mixed-radix Cooley-Tukey product, n_fft = r1 * r2 (sample
    ``r2 * n1 + n2``, bin ``k1 + r1 * k2``): an r1-point DFT over ``n1``, twiddles, an r2-point DFT over
    ``n2`` for the bins up to ``f_max`` only. That is ~3.5x fewer multiplies than one (bins x n_fft)
    product (ONNX Runtime, 1 thread: 0.13 vs 0.18 ms per 1 s window), and every constant is small, so the
    exported graph stores no DFT basis. All tables are built in float64 from integer phases.
    """

    def __init__(self, fe: FrontEnd) -> None:
        super().__init__()
        n = fe.n_fft
        self.n_fft, self.hop = n, fe.hop
        self.r1 = _radix(n)
        self.r2 = n // self.r1
        self.k2 = -(-fe.n_bins // self.r1)  # second-stage bins needed to reach n_bins

        def phase(a: int, b: int, m: int) -> torch.Tensor:  # 2*pi*(i*j mod m)/m, exact integer wrap
            ij = torch.arange(a, dtype=torch.int64)[:, None] * torch.arange(b, dtype=torch.int64)
            return torch.remainder(ij, m).to(torch.float64) * (2 * math.pi / m)

        t = torch.arange(n, dtype=torch.float64)
        self.register_buffer("window", (0.5 - 0.5 * torch.cos(t * (2 * math.pi / n))).float(),
                             persistent=False)  # periodic Hann
        p1 = phase(self.r1, self.r1, self.r1)  # (n1, k1)
        self.register_buffer("stage1", torch.cat([torch.cos(p1), -torch.sin(p1)], 1).float(), persistent=False)
        tw = phase(self.r2, self.r1, n)  # (n2, k1): W_N^(n2 k1)
        self.register_buffer("tw_cos", torch.cos(tw).float(), persistent=False)
        self.register_buffer("tw_sin", torch.sin(tw).float(), persistent=False)
        p2 = phase(self.r2, self.k2, self.r2)  # (n2, k2)
        c, s = torch.cos(p2), torch.sin(p2)
        self.register_buffer("stage2", torch.cat([torch.cat([c, -s], 1), torch.cat([s, c], 1)]).float(),
                             persistent=False)  # [re | im] (n2) -> [re | im] (k2)
        mel = torch.tensor(mel_filterbank(fe))  # (n_mels, n_bins), bins in natural order
        k = (torch.arange(self.r1)[:, None] + self.r1 * torch.arange(self.k2)).reshape(-1)  # bin of [k1, k2]
        perm = torch.zeros(len(k), fe.n_mels)
        perm[k < fe.n_bins] = mel.T[k[k < fe.n_bins]]
        self.register_buffer("mel", perm, persistent=False)  # (r1 * k2, n_mels)

    def frames(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, frames, n_fft) by reshaping into hops (no gather). Lengths are Python ints:
        an exported graph has a fixed window, so they are constants there."""
        n, hop = self.n_fft, self.hop
        length = int(wav.shape[1])
        q = -(-n // hop)  # hops spanned by one frame
        nf = 1 + (length - n) // hop
        need = (nf + q - 1) * hop
        wav = F.pad(wav, (0, need - length)) if need > length else wav[:, :need]
        r = wav.reshape(-1, nf + q - 1, hop)
        last = n - (q - 1) * hop
        parts = [r[:, i:i + nf] for i in range(q - 1)] + [r[:, q - 1:q - 1 + nf, :last]]
        return torch.cat(parts, -1)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.frames(wav) * self.window
        nf = int(x.shape[1])
        y = x.reshape(-1, nf, self.r1, self.r2).transpose(2, 3) @ self.stage1  # (B, F, n2, [re|im] k1)
        yr, yi = y[..., : self.r1], y[..., self.r1:]
        z = torch.cat([yr * self.tw_cos + yi * self.tw_sin, yi * self.tw_cos - yr * self.tw_sin], 2)
        spec = z.transpose(2, 3) @ self.stage2  # (B, F, k1, [re|im] k2)
        re, im = spec[..., : self.k2], spec[..., self.k2:]
        power = (re * re + im * im).reshape(-1, nf, self.r1 * self.k2)
        return torch.log(power @ self.mel + 1e-6).transpose(1, 2)


class BCBlock(nn.Module):
    """Broadcasted residual block: frequency-depthwise conv, then a temporal branch broadcast over frequency."""

    def __init__(self, c_in: int, c_out: int, stride_f: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.project = None
        if c_in != c_out:
            self.project = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())
        c = c_out
        self.freq = nn.Sequential(nn.Conv2d(c, c, (3, 1), (stride_f, 1), (1, 0), groups=c, bias=False),
                                  nn.BatchNorm2d(c))
        self.time = nn.Sequential(
            nn.Conv2d(c, c, (1, 3), 1, (0, dilation), dilation=(1, dilation), groups=c, bias=False),
            nn.BatchNorm2d(c), nn.SiLU(), nn.Conv2d(c, c, 1, bias=False), nn.Dropout(dropout))
        self.residual = stride_f == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, F, T)
        if self.project is not None:
            x = self.project(x)
        f = self.freq(x)
        t = self.time(f.mean(dim=2, keepdim=True))  # (B, C, 1, T), broadcast over frequency
        out = f + t + (x if self.residual else 0)
        return F.relu(out)


class Student(nn.Module):
    """Waveform (B, samples) at 16 kHz -> logits (B, n_classes)."""

    def __init__(self, fe: FrontEnd, dims: StudentDims) -> None:
        super().__init__()
        self.dims = dims
        self.fe = fe
        self.spec_augment = True
        """SpecAugment masks while training (off for deterministic tests)."""
        self.mel_shift = 0.0
        """Largest random shift along the mel axis while training, in bins (0: off; see :func:`mel_shift`)."""
        self.eq_db = 0.0
        """Largest random microphone colouration while training, in dB (0: off; see :func:`random_eq`)."""
        self.frontend = LogMel(fe)
        self.norm = nn.BatchNorm2d(1)  # per-feature scale learnt on the training data
        w = dims.width
        self.stem = nn.Sequential(nn.Conv2d(1, w * 2, 5, (2, 1), 2, bias=False), nn.BatchNorm2d(w * 2), nn.ReLU())
        specs = block_specs(dims)
        self.blocks = nn.Sequential(*(BCBlock(*s, dims.dropout) for s in specs))
        c = specs[-1][1]
        self.head = make_head(c, w, dims.n_classes - len(dims.branches))
        self.branches = nn.ModuleList()
        """Side branches (one output each): copies of the blocks after ``dims.branch_at`` and of the head."""
        if dims.branches:
            if dims.branch_at is None:
                raise ValueError("a student with side branches needs dims.branch_at")
            for _ in dims.branches:
                self.branches.append(nn.Sequential(*(BCBlock(*s, dims.dropout) for s in specs[dims.branch_at:]),
                                                   make_head(c, w, 1)))
            main = [i for i in range(dims.n_classes) if i not in dims.branches]
            order = [0] * dims.n_classes  # output position -> column of [main head | branch 0 | branch 1 ...]
            for j, i in enumerate(main + list(dims.branches)):
                order[i] = j
            self.register_buffer("order", torch.tensor(order), persistent=False)
        self.live_branch: int | None = None
        """While set (:meth:`train_branch_only`), training moves only that branch."""

    def features(self, wav: torch.Tensor) -> torch.Tensor:
        """Log-mel input of the CNN: (B, 1, n_mels, frames); SpecAugment masks while training."""
        x = self.frontend(wav)[:, None]
        if not (self.training and self.spec_augment):
            return self.norm(x)
        x = self.norm(random_eq(x, self.eq_db) if self.eq_db else x)  # colouring in dB, before the scaling
        return spec_augment(mel_shift(x, self.mel_shift) if self.mel_shift else x)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.features(wav))
        if not len(self.branches):
            return self.head(self.blocks(x)).mean(dim=(2, 3))
        at = self.dims.branch_at
        shared = self.blocks[:at](x)
        outs = [self.head(self.blocks[at:](shared)).mean(dim=(2, 3))]
        outs += [b(shared).mean(dim=(2, 3)) for b in self.branches]
        return torch.cat(outs, 1)[:, self.order]

    def train_branch_only(self, k: int) -> None:
        """Freeze everything but branch ``k``: its weights alone learn, and every other module keeps its
        batch-norm statistics, so every other output computes exactly what it did before."""
        self.live_branch = k
        for name, p in self.named_parameters():
            p.requires_grad = name.startswith(f"branches.{k}.")

    def train(self, mode: bool = True) -> Student:
        super().train(mode)
        if mode and self.live_branch is not None:
            for name, m in self.named_children():
                if name != "branches":
                    m.eval()
            for i, b in enumerate(self.branches):
                if i != self.live_branch:
                    b.eval()
        return self


def block_specs(dims: StudentDims) -> list[tuple[int, int, int, int]]:
    """(channels in, channels out, frequency stride, dilation) of each BC-ResNet block."""
    w = dims.width
    widths = [w, int(w * 1.5), w * 2, int(w * 2.5)]
    specs, c = [], w * 2
    for stage, (n, c_out) in enumerate(zip(dims.blocks, widths)):
        for i in range(n):
            specs.append((c, c_out, 2 if (i == 0 and 0 < stage < 3) else 1, 2 ** stage))
            c = c_out
    return specs


def make_head(c: int, w: int, n_out: int) -> nn.Sequential:
    """Frequency-collapsing depthwise conv, a pointwise layer, and the output layer (index 4)."""
    return nn.Sequential(nn.Conv2d(c, c, (5, 5), padding=(0, 2), groups=c, bias=False),
                         nn.Conv2d(c, w * 2, 1, bias=False), nn.BatchNorm2d(w * 2), nn.ReLU(),
                         nn.Conv2d(w * 2, n_out, 1))


def spec_augment(x: torch.Tensor, n_masks: int = 2, max_f: int = 6, max_t: int = 12) -> torch.Tensor:
    """Zero ``n_masks`` random frequency bands and time spans per example (Park et al. 2019)."""
    b, _, f, t = x.shape
    keep = torch.ones(b, 1, f, t, dtype=torch.bool, device=x.device)
    fi = torch.arange(f, device=x.device)[None, :, None]
    ti = torch.arange(t, device=x.device)[None, None, :]
    for _ in range(n_masks):
        for size, idx, dim in ((max_f, fi, f), (max_t, ti, t)):
            width = torch.randint(0, size + 1, (b, 1, 1), device=x.device)
            start = (torch.rand(b, 1, 1, device=x.device) * (dim - width + 1)).long()
            keep &= ~((idx >= start) & (idx < start + width))[:, None]
    return x * keep


def mel_shift(x: torch.Tensor, max_bins: float) -> torch.Tensor:
    """Move each example up or down the mel axis by a random fraction of ``max_bins`` (edges repeated).

    Above ~1 kHz the mel scale is nearly logarithmic, so a shift scales the formants: a cheap stand-in
    for vocal tract length perturbation (Jaitly & Hinton 2013), i.e. for speakers with other voices.
    """
    b, _, f, _ = x.shape
    shift = (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * max_bins
    src = (torch.arange(f, device=x.device, dtype=x.dtype)[None, None, :, None] - shift).clamp(0, f - 1)
    lo = src.floor().long().clamp(max=f - 2)
    frac = src - lo
    idx = lo.expand(-1, x.shape[1], -1, x.shape[3])
    below = torch.gather(x, 2, idx)
    above = torch.gather(x, 2, idx + 1)
    return below + (above - below) * frac


def random_eq(x: torch.Tensor, max_db: float) -> torch.Tensor:
    """Colour each example's log-mel spectrum (natural log of power) by a random smooth curve over the mel
    axis, at most ``max_db`` dB either way: a tilt and two slow ripples, as microphones and rooms differ."""
    b, _, f, _ = x.shape
    m = torch.linspace(0.0, 1.0, f, device=x.device, dtype=x.dtype)
    basis = torch.stack([m * 2 - 1, torch.cos(math.pi * m), torch.cos(2 * math.pi * m)])  # (3, f)
    c = torch.rand(b, 3, device=x.device, dtype=x.dtype) * 2 - 1
    curve = c @ basis  # (b, f), at most 3 in size
    scale = max_db * math.log(10) / 10 / curve.abs().amax(dim=1, keepdim=True).clamp_min(1.0)
    return x + (curve * scale)[:, None, :, None]


def count_parameters(model: nn.Module) -> int:
    """Parameters (frozen ones included)."""
    return sum(p.numel() for p in model.parameters())


def load_dir(model_dir: Path, window_seconds: float | None = None) -> Student:
    """The torch student of a model directory (``weights.safetensors`` + manifest), in float32; optionally
    with a longer input window (the CNN is convolutional: the weights do not depend on it)."""
    from safetensors.torch import load_file

    from assistant.errors import ModelError
    from assistant.student import Manifest

    m = Manifest.read(model_dir)
    weights = Path(model_dir) / "weights.safetensors"
    if not weights.is_file():
        raise ModelError(f"{model_dir}: no weights.safetensors; re-export it with 'training pipeline'")
    fe = m.frontend if window_seconds is None else replace(m.frontend, window_seconds=window_seconds)
    net = Student(fe, StudentDims.from_dict(m.extra["dims"]))
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()})
    return net


def with_head(model: Student, rows: list[int | None]) -> Student:
    """A copy of ``model`` whose output ``i`` is old output ``rows[i]`` (None: a new output of the main
    head that starts unlikely, with small random weights). Every kept output computes exactly what it did
    before; a side branch whose output is not kept is dropped."""
    old = model.dims
    old_main = [p for p in range(old.n_classes) if p not in old.branches]
    kept = [k for k, p in enumerate(old.branches) if p in rows]
    branches = tuple(rows.index(old.branches[k]) for k in kept)
    dims = replace(old, n_classes=len(rows), branches=branches, branch_at=old.branch_at if branches else None)
    net = Student(model.fe, dims)
    old_state = model.state_dict()
    state = {k: v for k, v in old_state.items() if not k.startswith("branches.")}
    main_rows = [r for i, r in enumerate(rows) if i not in branches]
    last_w, last_b = state["head.4.weight"], state["head.4.bias"]
    w = torch.randn(len(main_rows), *last_w.shape[1:]) * 0.01
    b = torch.full((len(main_rows),), float(last_b.min()))
    for j, r in enumerate(main_rows):
        if r is not None:
            w[j], b[j] = last_w[old_main.index(r)], last_b[old_main.index(r)]
    state["head.4.weight"], state["head.4.bias"] = w, b
    for new_k, old_k in enumerate(kept):
        prefix = f"branches.{old_k}."
        state.update({f"branches.{new_k}." + k[len(prefix):]: v for k, v in old_state.items() if k.startswith(prefix)})
    net.load_state_dict(state)
    return net


def add_branch(model: Student, rows: list[int | None], at: int) -> Student:
    """A copy of ``model`` with one more output, computed by a new side branch: ``rows`` as in
    :func:`with_head` with exactly one None (the new output). The branch splits after block ``at`` (or where
    the model's branches already split) and starts as a copy of the later blocks and the head, its one
    output unlikely. Every old output computes exactly what it did before."""
    if rows.count(None) != 1 or [r for r in rows if r is not None] != list(range(model.dims.n_classes)):
        raise ValueError("add_branch keeps every old output in order and adds exactly one")
    old = model.dims
    at = old.branch_at if old.branches else at
    if not 0 <= at < len(model.blocks):
        raise ValueError(f"a branch splits after block 0..{len(model.blocks) - 1}, not {at}")
    k = len(old.branches)
    dims = replace(old, n_classes=len(rows), branches=tuple(rows.index(p) for p in old.branches) + (rows.index(None),),
                   branch_at=at)
    net = Student(model.fe, dims)
    old_state = model.state_dict()
    state = dict(old_state)
    n_after = len(model.blocks) - at
    for key, v in old_state.items():
        part = key.split(".")
        if part[0] == "blocks" and int(part[1]) >= at:
            state[".".join(["branches", str(k), str(int(part[1]) - at), *part[2:]])] = v.clone()
        elif part[0] == "head" and part[1] != "4":
            state[".".join(["branches", str(k), str(n_after), *part[1:]])] = v.clone()
    last_w, last_b = state["head.4.weight"], state["head.4.bias"]
    state[f"branches.{k}.{n_after}.4.weight"] = torch.randn(1, *last_w.shape[1:]) * 0.01
    state[f"branches.{k}.{n_after}.4.bias"] = last_b.min().reshape(1).clone()
    net.load_state_dict(state)
    return net


def batch_logits(model: Student, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """The torch student's logits in eval mode, ``batch`` windows at a time: (N, samples) -> (N, C)."""
    model.eval()
    with torch.inference_mode():
        out = [model(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.dims.n_classes), np.float32)
