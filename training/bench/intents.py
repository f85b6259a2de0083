"""``training bench-intents``: spoken requests understood under an intent grammar, Picovoice's way.

Command acceptance (Picovoice's metric): a clip counts when the intent and every slot are right (slot values
compared after trimming spaces and case). Each clip is decoded under the grammar and freely transcribed in
the same decoder passes (:func:`assistant.teacher.constrained.decode`), so "free transcription + hassil" on
the same audio comes side by side. Noise from one recording is mixed over the whole clip at each SNR (a
seeded offset per clip, the same at every SNR). Folders given with ``--out-of-grammar`` hold speech or noise
that is no request: there the figure is how often no order comes out. Results go to a JSON-lines file as
they come, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from assistant.audio import load_audio
from assistant.bench.measure import machine
from assistant.errors import AssistantError, LabelSetError

from .noise import mix_at_snr

OOG_WINDOW_S = 6.0
"""Recordings longer than this (background noise) are cut into windows of this length, as requests."""


def _norm(intent: str | None, slots: dict) -> tuple | None:
    """(intent, {slot: value}) with values trimmed and lower-cased, for comparing with labels."""
    if intent is None:
        return None
    return intent, {str(k): str(v).strip().lower() for k, v in slots.items()}


def _noise_piece(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if noise.size <= n:
        noise = np.tile(noise, n // max(1, noise.size) + 1)
    start = int(rng.integers(noise.size - n + 1))
    return noise[start:start + n]


def _oog_clips(folder: Path, per_folder: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Up to ``per_folder`` clips of ``folder`` (a seeded draw of files, read only once drawn), long
    recordings cut into :data:`OOG_WINDOW_S` windows."""
    from assistant.corpus import find_clips

    paths = [c.path for c in find_clips([folder])]
    rng = np.random.default_rng(seed)
    if len(paths) > per_folder:
        paths = [paths[i] for i in sorted(rng.choice(len(paths), per_folder, replace=False))]
    w = int(OOG_WINDOW_S * 16000)
    out: list[tuple[str, np.ndarray]] = []
    for path in paths:
        try:
            audio = load_audio(path, max_seconds=None).samples
        except AssistantError:
            continue
        if audio.size > 2 * w:
            out += [(f"{path}@{i // 16000}s", audio[i:i + w]) for i in range(0, audio.size - w + 1, w)]
        else:
            out.append((str(path), audio[: 30 * 16000]))
    if len(out) > per_folder:
        out = [out[i] for i in sorted(rng.choice(len(out), per_folder, replace=False))]
    return out


def run_bench_intents(args: argparse.Namespace) -> dict:
    """Acceptance clean and at each SNR, free transcription beside it, latency, out-of-grammar rejection."""
    from tqdm import tqdm

    from assistant.intents import IntentSet
    from assistant.intents.grammar import Grammar
    from assistant.teacher import load_teacher
    from assistant.teacher.constrained import DEFAULT_BEAM, DEFAULT_FLOOR, DEFAULT_MARGIN, understand

    args.beam = args.beam or DEFAULT_BEAM
    args.margin = DEFAULT_MARGIN if args.margin is None else args.margin
    args.floor = DEFAULT_FLOOR if args.floor is None else args.floor
    clips_dir = Path(args.clips)
    try:
        labels = json.loads(Path(args.labels).read_text())
    except (OSError, ValueError) as e:
        raise LabelSetError(f"{args.labels}: cannot read the labels ({e}); expected {{file: {{intent, slots}}}}") from None
    if not isinstance(labels, dict) or not labels:
        raise LabelSetError(f"{args.labels}: expected a non-empty mapping {{file: {{intent, slots}}}}")
    sets = [IntentSet.load(p) for p in args.intents]
    grammar = Grammar(sets)
    teacher = load_teacher(args.teacher, "transformers", threads=args.threads)
    snrs = [float(s) for s in str(args.snr).split(",") if s.strip()] if args.noise else []
    noise = load_audio(args.noise, max_seconds=None).samples if args.noise else None
    files = sorted(labels)[:: args.every]

    config = json.dumps([teacher.id, [str(p) for p in args.intents], args.beam, args.seed,
                         str(args.noise)], sort_keys=True)
    key = hashlib.sha256(config.encode()).hexdigest()[:12]
    store = Path(args.report_dir) / f"bench-intents-{key}.jsonl"
    store.parent.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict] = {}
    if store.is_file():
        for line in store.read_text().splitlines():
            try:
                row = json.loads(line)
                done[row["id"]] = row
            except (ValueError, KeyError):
                continue  # a line cut by an interruption
    started = time.perf_counter()
    jobs: list[tuple[str, str, float | None, str]] = []  # (id, kind, snr, name)
    for snr in [None, *snrs]:
        jobs += [(f"{snr}|{f}", "order", snr, f) for f in files]
    oog: dict[str, list[tuple[str, np.ndarray]]] = {}
    for folder in args.out_of_grammar or []:
        oog[str(folder)] = _oog_clips(Path(folder), args.oog_clips, args.seed)
        jobs += [(f"oog|{name}", "oog", None, name) for name, _ in oog[str(folder)]]
    oog_audio = {name: a for items in oog.values() for name, a in items}

    with store.open("a") as out, tqdm(total=len(jobs), desc="bench-intents", unit="clip",
                                      disable=args.quiet, initial=sum(j[0] in done for j in jobs)) as bar:
        for jid, kind, snr, name in jobs:
            if jid in done:
                continue
            if kind == "order":
                try:
                    audio = load_audio(clips_dir / name, max_seconds=30).samples
                except AssistantError as e:
                    row = {"id": jid, "error": str(e)}
                    done[jid] = row
                    out.write(json.dumps(row) + "\n")
                    bar.update()
                    continue
                if snr is not None and noise is not None:
                    rng = np.random.default_rng([args.seed, files.index(name)])
                    audio = mix_at_snr(audio, _noise_piece(noise, audio.size, rng), snr)
            else:
                audio = oog_audio[name]
            u = understand(teacher, audio, grammar, beam=args.beam)
            free = grammar.parse(u.free_text)
            row = {"id": jid, "sentence": u.sentence, "free_text": u.free_text, "gap": round(u.gap, 4),
                   "mean_logprob": round(u.mean_logprob, 4), "no_speech": round(u.no_speech_prob, 4),
                   "seconds": round(u.seconds, 4), "audio_s": round(audio.size / 16000, 2),
                   "parsed": [u.parsed.intent, u.parsed.slots] if u.parsed else None,
                   "free_match": [free.intent, free.slots] if free else None}
            done[jid] = row
            out.write(json.dumps(row) + "\n")
            out.flush()
            bar.update()
    return summarise(args, labels, files, snrs, oog, done, teacher.id, time.perf_counter() - started)


def summarise(args, labels: dict, files: list[str], snrs: list[float], oog: dict, done: dict, teacher_id: str,
              seconds: float) -> dict:
    """The report from the per-clip rows."""
    def truth(f: str) -> tuple | None:
        lab = labels[f]
        return _norm(lab.get("intent"), lab.get("slots") or {})

    from assistant.teacher.constrained import in_grammar

    def got(m) -> tuple | None:
        return _norm(m[0], m[1]) if m else None

    for r in done.values():  # the decision is applied here, so other bars need no new decode
        ok = "gap" in r and in_grammar(r["gap"], r["mean_logprob"], args.margin, args.floor)
        r["match"] = r.get("parsed") if ok else None

    by_snr, free_by_snr, misses = {}, {}, []
    latencies: list[float] = []
    for snr in [None, *snrs]:
        rows = [(f, done[f"{snr}|{f}"]) for f in files]
        ok = [got(r.get("match")) == truth(f) for f, r in rows]
        fok = [got(r.get("free_match")) == truth(f) for f, r in rows]
        name = "clean" if snr is None else f"{snr:g}"
        by_snr[name], free_by_snr[name] = float(np.mean(ok)), float(np.mean(fok))
        if snr is None:
            latencies = [r["seconds"] for _, r in rows if "seconds" in r]
            misses = [{"file": f, "want": labels[f], "sentence": r.get("sentence"), "free_text": r.get("free_text"),
                       "gap": r.get("gap"), "got": r.get("match")} for (f, r), o in zip(rows, ok) if not o]
    noisy = [by_snr[f"{s:g}"] for s in snrs]
    oog_rows = {}
    for folder, items in oog.items():
        rows = [done[f"oog|{n}"] for n, _ in items]
        rejected = sum(r.get("match") is None for r in rows)
        oog_rows[folder] = {"clips": len(rows), "no_order": rejected, "rate": rejected / max(1, len(rows)),
                            "accepted": [{"clip": n, "sentence": r["sentence"], "gap": r["gap"]}
                                         for (n, _), r in zip(items, rows) if r.get("match") is not None][:20]}
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return {"clips": str(args.clips), "labels": str(args.labels), "n_clips": len(files),
            "intents": [str(p) for p in args.intents], "teacher": teacher_id, "beam": args.beam, "margin": args.margin,
            "floor": args.floor,
            "acceptance": by_snr["clean"], "acceptance_by_snr": by_snr,
            "acceptance_noise_mean": float(np.mean(noisy)) if noisy else None,
            "free_transcription": {"acceptance": free_by_snr["clean"], "acceptance_by_snr": free_by_snr},
            "latency_s": {"median": float(np.median(lat)), "p95": float(np.percentile(lat, 95)),
                          "audio_s_median": float(np.median([done[f"None|{f}"].get("audio_s", 0) for f in files]))},
            "noise": str(args.noise) if args.noise else None, "seed": args.seed,
            "out_of_grammar": oog_rows, "misses": misses, "seconds": seconds, "machine": machine()}


def print_bench_intents(r: dict) -> None:
    """The table for people."""
    print(f"{r['n_clips']} clips of {r['clips']}; grammar {', '.join(r['intents'])}; teacher {r['teacher']}")
    print(f"  {'condition':>10s}  {'grammar':>8s}  {'free':>8s}")
    for name, acc in r["acceptance_by_snr"].items():
        label = name if name == "clean" else f"{name} dB"
        print(f"  {label:>10s}  {acc:8.1%}  {r['free_transcription']['acceptance_by_snr'][name]:8.1%}")
    if r["acceptance_noise_mean"] is not None:
        print(f"  {'noise mean':>10s}  {r['acceptance_noise_mean']:8.1%}")
    lat = r["latency_s"]
    print(f"  per query: median {lat['median']:.2f} s, p95 {lat['p95']:.2f} s "
          f"(median request {lat['audio_s_median']:.1f} s of audio)")
    for folder, o in r["out_of_grammar"].items():
        print(f"  out of grammar {folder}: {o['rate']:.1%} produce no order ({o['no_order']}/{o['clips']})")


def write_markdown(r: dict, path: Path) -> Path:
    """The same figures as a Markdown table."""
    lines = [f"# bench-intents: {r['n_clips']} clips of `{r['clips']}`", "",
             f"Grammar {', '.join(f'`{p}`' for p in r['intents'])}; teacher `{r['teacher']}`, beam {r['beam']}, "
             f"margin {r['margin']}, floor {r['floor']}; noise `{r['noise']}` (seed {r['seed']}); machine: {r['machine']}.", "",
             "| condition | decoding under the grammar | free transcription + hassil |", "|---|---|---|"]
    for name, acc in r["acceptance_by_snr"].items():
        label = name if name == "clean" else f"{name} dB SNR"
        lines.append(f"| {label} | {acc:.1%} | {r['free_transcription']['acceptance_by_snr'][name]:.1%} |")
    if r["acceptance_noise_mean"] is not None:
        lines.append(f"| mean over the SNRs | {r['acceptance_noise_mean']:.1%} | |")
    lat = r["latency_s"]
    lines += ["", f"Per query: median {lat['median']:.2f} s, p95 {lat['p95']:.2f} s.", ""]
    if r["out_of_grammar"]:
        lines += ["| out of grammar | clips | no order |", "|---|---|---|"]
        lines += [f"| `{f}` | {o['clips']} | {o['rate']:.1%} |" for f, o in r["out_of_grammar"].items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def plot_bench_intents(r: dict, path: Path) -> Path:
    """Acceptance against SNR: decoding under the grammar vs free transcription."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(r["acceptance_by_snr"])
    ticks = [n if n == "clean" else f"{n} dB" for n in names]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(ticks, [100 * r["acceptance_by_snr"][n] for n in names], "o-", label="decoding under the grammar")
    ax.plot(ticks, [100 * r["free_transcription"]["acceptance_by_snr"][n] for n in names], "s--",
            label="free transcription + hassil")
    ax.set_xlabel("signal-to-noise ratio")
    ax.set_ylabel("command acceptance (%)")
    ax.set_title(f"{r['n_clips']} spoken requests, {r['teacher'].split('-')[1]}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
