"""``training bench-noise``: student and teacher accuracy on the test speakers with real noise mixed in.

Each test clip (1 s) gets one of the recordings of ``../shared/data/noise`` (picked and offset by a seeded
draw, the same for every SNR and both models) mixed in over the whole clip at each SNR. Both models hear
the same arrays; the teacher's answers go through the label cache (keyed by the mixed audio), so a rerun
is quick and an interrupted one resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from assistant.audio import audio_sha256, centre_on_energy, load_audio
from assistant.bench.measure import machine
from assistant.errors import AssistantError
from assistant.labelset import load_labelset

from ..corpus import find_clips, select, truth_label
from ..metrics import accuracy

def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``speech`` + ``noise`` scaled so that speech power / noise power = ``snr_db`` over the whole clip;
    both (samples,) float32 of one length."""
    ps = float(np.mean(speech ** 2)) + 1e-12
    pn = float(np.mean(noise ** 2)) + 1e-12
    return (speech + noise * np.sqrt(ps / (pn * 10 ** (snr_db / 10)))).astype(np.float32)


def noise_cuts(noise_dir: Path, n: int, length: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` stretches of ``length`` samples from the recordings in ``noise_dir``, a seeded draw of file and
    offset each."""
    files = [load_audio(c.path, max_seconds=None).samples for c in find_clips([noise_dir])]  # minutes long
    files = [f for f in files if len(f) > length]
    if not files:
        raise AssistantError(f"{noise_dir} holds no noise recording longer than {length} samples")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = files[int(rng.integers(len(files)))]
        start = int(rng.integers(len(f) - length))
        out.append(f[start:start + length])
    return out


def run_bench_noise(args: argparse.Namespace) -> dict:
    """Accuracy of ``args.model`` and the teacher, clean and at each of ``args.snr``; writes JSON + a plot."""
    from assistant.registry import Registry
    from assistant.student import Student
    from assistant.teacher import load_teacher
    from assistant.teacher.weights import cache_root
    from tqdm import tqdm

    from ..cache import CachedLabel, LabelCache

    data = Path(args.data)
    if not (data / "gsc_v2_test_dev").is_dir() or not (data / "noise").is_dir():
        raise AssistantError(f"{data} needs gsc_v2_test_dev and noise; give --data the real-audio folder")
    started = time.perf_counter()
    label_set = load_labelset("speech_commands")
    student = Student(Path(args.model) if Path(args.model).is_dir() else Registry(args.registry).path(args.model))
    window = student.frontend.window_samples
    clips = [c for c in select(find_clips([data / "gsc_v2_test_dev"]), "test") if truth_label(c, label_set)]
    clips = clips[::args.every]
    truth = [truth_label(c, label_set) for c in clips]
    clean = np.stack([centre_on_energy(load_audio(c.path).samples, window) for c in clips])
    cuts = np.stack(noise_cuts(data / "noise", len(clips), window, args.seed))
    teacher = load_teacher(args.teacher, threads=args.threads)
    cache = LabelCache(args.cache or cache_root() / "labels.sqlite")
    rows = []
    for snr in [None, *args.snr]:
        x = clean if snr is None else np.stack([mix_at_snr(s, n, snr) for s, n in zip(clean, cuts)])
        spred = [student.labels[i] for i in np.concatenate(
            [student.logits(x[i:i + 256]) for i in range(0, len(x), 256)]).argmax(1)]
        shas = [audio_sha256(a) for a in x]
        have = cache.get_many(set(shas), teacher.id, label_set.id)
        todo = [k for k, s in enumerate(shas) if s not in have]
        bar = tqdm(total=len(todo), desc=f"teacher at {'clean' if snr is None else f'{snr:g} dB'}", unit="clip",
                   disable=args.quiet, dynamic_ncols=True)
        for i in range(0, len(todo), 16):
            part = todo[i:i + 16]
            answers = teacher.label_batch([x[k] for k in part], label_set, with_transcript=False)
            new = [(shas[k], CachedLabel(a.labels, a.probs, a.transcript.to_dict(), a.raw, a.seconds))
                   for k, a in zip(part, answers)]
            cache.put_many(new, teacher.id, label_set.id)
            have.update(dict(new))
            bar.update(len(part))
        bar.close()
        tpred = [have[s].top for s in shas]
        sa, ta = accuracy(truth, spred, label_set.labels), accuracy(truth, tpred, label_set.labels)
        rows.append({"snr_db": snr, "student": sa.overall, "teacher": ta.overall,
                     "student_commands": sa.subset(list(label_set.commands)),
                     "teacher_commands": ta.subset(list(label_set.commands)),
                     "student_per_class": sa.per_class, "teacher_per_class": ta.per_class})
    result = {"student": f"{student.manifest.name}/{student.manifest.version}", "teacher": teacher.id,
              "data": f"{data / 'gsc_v2_test_dev'} test speakers ({len({c.speaker for c in clips})}), {len(clips)} clips",
              "noise": f"{data / 'noise'}: one recording a clip (seed {args.seed}), mixed over the whole 1 s clip",
              "rows": rows, "seconds": time.perf_counter() - started, "machine": machine()}
    return result


def print_bench_noise(r: dict) -> None:
    """The table for people."""
    print(f"{r['data']}; student {r['student']}, teacher {r['teacher']}")
    print(f"  {'SNR':>6s}  {'student':>8s}  {'teacher':>8s}")
    for row in r["rows"]:
        snr = "clean" if row["snr_db"] is None else f"{row['snr_db']:g} dB"
        print(f"  {snr:>6s}  {row['student']:8.1%}  {row['teacher']:8.1%}")


def plot_bench_noise(r: dict, path: Path) -> Path:
    """Accuracy against SNR, student and teacher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r["rows"]
    names = ["clean" if row["snr_db"] is None else f"{row['snr_db']:g} dB" for row in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for who, style in (("student", "o-"), ("teacher", "s--")):
        ax.plot(names, [100 * row[who] for row in rows], style, label=who)
    ax.set_xlabel("signal-to-noise ratio")
    ax.set_ylabel("accuracy on test speakers (%)")
    ax.set_title(f"{r['student']} vs its teacher in real noise", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
