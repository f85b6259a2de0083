"""Stage 3: distil the teacher's soft labels into the student.

Loss = T² · KL(teacher ‖ student at temperature T) + α · CE(teacher argmax). Every epoch draws fresh
augmentations of each clip (label-preserving, so the clean clip's soft label stands); copies the
teacher labelled itself (``view`` examples, :mod:`training.views`) are shown as they are. A checkpoint is
written after every epoch; rerunning with the same run directory resumes from it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from assistant.errors import AssistantError
from assistant.frontend import FrontEnd

from .augment import AugmentConfig, NoiseBank, augment
from .dataset import DistillSet
from .dims import StudentDims

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    """Training settings (saved in the run directory and the model manifest)."""

    epochs: int = 100
    batch_size: int = 32
    """Small batches: ~7.5 k steps over the ~2.4 k-clip set (64 and 60 epochs, 2.3 k steps, underfit)."""
    lr: float = 4e-3
    weight_decay: float = 1e-3
    temperature: float = 2.0
    alpha: float = 0.5
    """Weight of the cross-entropy on the teacher's argmax."""
    width: int = StudentDims.width
    blocks: tuple[int, ...] = StudentDims.blocks
    """BC-ResNet blocks per stage (see :class:`training.dims.StudentDims`)."""
    p_clean: float = 0.15
    """Share of examples shown without augmentation each epoch."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights (0: off); the average is what is validated
    and kept."""
    mel_shift: float = 0.0
    """Largest random shift of the log-mel input along its mel axis, in bins (0: off)."""
    eq_db: float = 0.0
    """Largest random colouration of the log-mel spectrum (tilt and slow ripples), in dB (0: off)."""
    epoch_size: int = 0
    """Examples drawn per epoch (with replacement, by :func:`draw_weights`); 0: each example once."""
    balance: float = 0.0
    """How evenly the teacher's classes are drawn: an example's chance goes as its class's count to the
    power -balance (0: as the data has them; 1: every class equally often). Real speech floods eight
    words and starves on/off and ``_unknown_``: the student learns the class balance it is shown."""
    unknown_weight: float = 1.0
    """Extra draw weight of the examples the teacher calls ``_unknown_`` (every other word and all
    running speech share that one class)."""
    min_confidence: float = 0.0
    """Examples whose teacher's top probability is under this are never drawn (0: all are): a label-free
    filter of the teacher's likely mistakes. At 0.9 it cost 0.9 points on the test speakers (it drops more
    right hard examples than wrong ones; docs/student/README.md), so it is off by default."""
    ce_confidence: float = 0.0
    """γ of :func:`distill_loss`: the CE on the teacher's argmax weighed by its top probability ** γ (0: off)."""
    seed: int = 0
    threads: int = 2


def distill_loss(logits, teacher_probs, temperature: float, alpha: float, ce_confidence: float = 0.0):
    """T²·KL(teacher‖student_T) + α·CE(argmax teacher); tensors (B, K). ``ce_confidence`` γ > 0 weighs each
    example's CE by its teacher's top probability ** γ (weights of mean 1 in the batch): the hard label
    counts less where the teacher was unsure, while the KL still carries what it did hear."""
    import torch.nn.functional as F

    t = temperature
    p_t = teacher_probs.clamp_min(1e-8) ** (1.0 / t)
    p_t = p_t / p_t.sum(dim=1, keepdim=True)
    kl = F.kl_div(F.log_softmax(logits / t, dim=1), p_t, reduction="batchmean")
    top, hard = teacher_probs.max(dim=1)
    if ce_confidence > 0:
        w = top ** ce_confidence
        ce = (F.cross_entropy(logits, hard, reduction="none") * w / w.mean().clamp_min(1e-8)).mean()
    else:
        ce = F.cross_entropy(logits, hard)
    return t * t * kl + alpha * ce


BALANCED_APART = ("speech",)
"""Sources balanced as a group of their own rather than under their teacher class: thousands of windows of
running speech would otherwise take nearly all of ``_unknown_``'s draws from the single other words that
a user says between commands."""


def draw_weights(soft: np.ndarray, labels: tuple[str, ...], balance: float, unknown_weight: float = 1.0,
                 unknown: str = "_unknown_", sources: list[str] | None = None,
                 min_confidence: float = 0.0) -> np.ndarray:
    """Chance of each example to be drawn, (N,) summing to 1: its group's count ** -balance, times
    ``unknown_weight`` for the class ``unknown``. A group is the teacher's class (``soft`` (N, K)
    posteriors), or the source for the sources in :data:`BALANCED_APART`. Examples whose top posterior is
    under ``min_confidence`` get 0 and do not count in their group (a class keeps its share of draws)."""
    top = soft.argmax(axis=1)
    group = top.copy()
    if sources is not None:
        for k, name in enumerate(BALANCED_APART):
            group[np.array([s == name for s in sources], bool)] = len(labels) + k
    kept = soft.max(axis=1) >= min_confidence
    if not kept.any():
        raise AssistantError(f"no training example has a teacher confidence of {min_confidence:g} or more; "
                             "give a lower --min-confidence")
    counts = np.bincount(group[kept], minlength=len(labels) + len(BALANCED_APART)).astype(np.float64)
    w = np.maximum(counts[group], 1.0) ** -balance * kept
    if unknown in labels:
        w[group == labels.index(unknown)] *= unknown_weight
    return w / w.sum()


def agreement(model, x: np.ndarray, soft: np.ndarray, batch: int = 256) -> float:
    """Share of examples where the student's argmax equals the teacher's."""
    from .model import batch_logits

    if len(x) == 0:
        return float("nan")
    return float(np.mean(batch_logits(model, x, batch).argmax(1) == soft.argmax(1)))


def check_resumable(run_dir: Path, config: dict) -> None:
    """Refuse to resume ``run_dir`` with settings other than those it was started with (the thread count
    may change); a run directory records its settings in ``config.json``."""
    path = run_dir / "config.json"
    if not path.is_file():
        return

    def flat(c: dict) -> dict:
        c = json.loads(json.dumps(c))  # tuples as JSON has them: lists
        return {**{f"{part}.{k}": v for part in ("distill", "augment", "frontend", "dims")
                   for k, v in c.get(part, {}).items() if k != "threads"},
                "train_examples": c.get("train_examples"), "train_sources": c.get("train_sources")}

    old, new = flat(json.loads(path.read_text())), flat(config)
    off = (None, 0, 0.0, False)  # a setting added later, left off, does not block resuming an older run
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k)
                  and not (k not in old and new[k] in off))
    if diff:
        raise AssistantError(f"{run_dir} holds a run started with other settings ({', '.join(diff[:6])}); "
                             "resume it with the same settings, or give a new run directory")


def train(train_set: DistillSet, val_set: DistillSet, run_dir: Path, cfg: DistillConfig, noise: NoiseBank,
          fe: FrontEnd, aug: AugmentConfig = AugmentConfig(), progress: bool = True,
          stop_after: int | None = None, init=None):
    """Train (or resume) a student in ``run_dir``; returns the model with the best validation agreement.

    ``stop_after`` ends this call after that many epochs (the run resumes later from its checkpoint).
    ``init``: a student to fine-tune (its weights are the starting point) instead of a fresh one.
    """
    import torch
    from tqdm import tqdm

    from .model import Student, count_parameters

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    if init is not None:
        model, dims = init, init.dims
    else:
        dims = StudentDims(n_classes=len(train_set.labels), width=cfg.width, blocks=tuple(cfg.blocks))
        model = Student(fe, dims)
    model.mel_shift = cfg.mel_shift
    model.eq_db = cfg.eq_db
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = cfg.epoch_size or len(train_set)
    steps_per_epoch = max(1, int(np.ceil(per_epoch / cfg.batch_size)))
    drawn = cfg.epoch_size > 0 or cfg.balance > 0 or cfg.min_confidence > 0
    chance = draw_weights(train_set.soft, train_set.labels, cfg.balance, cfg.unknown_weight,
                          sources=train_set.source, min_confidence=cfg.min_confidence) if drawn else None
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    average = None
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel

        def ema_step(avg: list, cur: list, n) -> None:  # warm-up: the random start is forgotten quickly
            if not avg[0].is_floating_point():  # BatchNorm's batch counters (one dtype per call)
                torch._foreach_copy_(avg, cur)
                return
            decay = min(cfg.ema, (1.0 + float(n)) / (10.0 + float(n)))
            torch._foreach_lerp_(avg, cur, 1.0 - decay)

        average = AveragedModel(model, multi_avg_fn=ema_step, use_buffers=True)
    ckpt_path, best_path = run_dir / "checkpoint.pt", run_dir / "best.pt"
    history: list[dict] = []
    start_epoch, best = 0, -1.0
    config = {"distill": asdict(cfg), "augment": asdict(aug), "frontend": fe.to_dict(), "dims": dims.to_dict(),
              "parameters": count_parameters(model), "train_examples": len(train_set),
              "train_sources": train_set.counts()}
    if ckpt_path.is_file():
        check_resumable(run_dir, config)  # before any state is read: other dims would fail obscurely
        state = torch.load(ckpt_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        if average is not None:
            average.load_state_dict(state["average"])
        start_epoch, best, history = state["epoch"], state["best"], state["history"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming %s at epoch %d", run_dir, start_epoch)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    soft = torch.from_numpy(train_set.soft)
    sources = train_set.source if len(train_set.source) == len(train_set) else [""] * len(train_set)
    bar = tqdm(range(start_epoch, cfg.epochs), desc="distilling", unit="epoch", disable=not progress,
               initial=start_epoch, total=cfg.epochs, dynamic_ncols=True)
    for epoch in bar:
        if stop_after is not None and epoch >= start_epoch + stop_after:
            break
        rng = np.random.default_rng(cfg.seed * 1000 + epoch)  # resumable: the epoch fixes the randomness
        t0 = time.perf_counter()
        # drawn: augment only what this epoch draws, already in random order; else every example, shuffled
        picked = rng.choice(len(train_set), size=per_epoch, p=chance) if drawn else np.arange(len(train_set))
        x = np.stack([train_set.x[k] if sources[k] == "view" or rng.random() < cfg.p_clean
                      else augment(train_set.x[k], rng, noise, aug) for k in picked])  # views: augmented once
        order = np.arange(len(x)) if drawn else rng.permutation(len(x))
        model.train()
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss = distill_loss(model(torch.from_numpy(x[idx])), soft[picked[idx]], cfg.temperature, cfg.alpha,
                                cfg.ce_confidence)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if average is not None:
                average.update_parameters(model)
            total += loss.item() * len(idx)
        kept = average.module if average is not None else model
        val = agreement(kept, val_set.x, val_set.soft)
        history.append({"epoch": epoch + 1, "loss": total / len(order), "val_agreement": val,
                        "seconds": time.perf_counter() - t0})
        if not np.isnan(val) and val >= best:
            best = val
            torch.save({"model": kept.state_dict(), "dims": dims.to_dict(), "frontend": fe.to_dict(),
                        "labels": list(train_set.labels), "epoch": epoch + 1}, best_path)
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "average": average.state_dict() if average is not None else None, "epoch": epoch + 1,
                    "best": best, "history": history, "torch_rng": torch.get_rng_state()},
                   ckpt_path.with_suffix(".tmp"))
        ckpt_path.with_suffix(".tmp").replace(ckpt_path)  # a kill mid-write keeps the previous checkpoint
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", val=f"{val:.3f}", best=f"{best:.3f}")
    bar.close()
    (run_dir / "history.json").write_text(json.dumps(history, indent=2))
    if best_path.is_file():
        state = torch.load(best_path, weights_only=False)
        model.load_state_dict(state["model"])
    model.eval()
    return model, history
