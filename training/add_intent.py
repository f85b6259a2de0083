"""``training add-intent``: teach the student a new phrase in minutes.

add-intent NAME "phrase" ["other phrase" ...] [--recordings DIR]:

1. **Positives.** Each phrase synthesised in many voices (Piper + espeak-ng, cached) plus the user's
   recordings (trimmed to the speech).
2. **Teacher check.** The teacher labels every positive over the old labels plus NAME; clips it does not
   hear as NAME are dropped and counted. Its soft labels are the targets. It also labels the phrase's
   near-names (:mod:`training.near_names`: "martin" for "marvin"), the negatives it does not hear as NAME.
3. **Rehearsal** (no forgetting): clips the student was built from — synthetic commands and other words,
   and the real ``train`` speakers and 1 s windows of read speech when ``--data`` is present — with their
   teacher labels from the label cache (else the old student's outputs, so nothing waits on the teacher).
   Clips whose text or transcript is the phrase are left out; real ones it also labels NAME are positives.
4. **Fine-tune** a side branch for the new output: a copy of the student's last stage and head that
   splits after block ``--branch`` and alone learns, so every old output computes exactly what it did
   (``--whole``: the whole student learns, from its old weights). Export, register, and promote. The
   manifest records the new label set, the intent and its parent version. The running assistant
   (``assistant listen``) picks the new version up without a restart.

A held-out fifth of the synthetic voices measures the new intent; ``--eval-*`` folders add real figures.
An interrupted run resumes from its checkpoint; the registry stays on the previous version until the end.
The clips of steps 1 and 3 and the evaluation are built in :mod:`training.add_intent_data`; ``remove-intent``
and ``intents`` are :mod:`training.intents`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.audio import SAMPLE_RATE, centre_on_energy, load_audio
from assistant.corpus import find_clips
from assistant.errors import AssistantError, ModelError
from assistant.labelset import LabelSet, load_labelset
from assistant.registry import Registry, writable_registry
from assistant.student import Manifest, Student

from .add_intent_data import (chatter, eval_clips, evaluate_intent, from_yaml, heard_clips, heldout_voice,
                              near_name_clips, positives, rehearsal, teacher_found)
from .add_intent_summary import print_summary
from .augment import NoiseBank
from .cache import LabelCache
from .dataset import DistillSet, concat, noise_set
from .dims import StudentDims
from .synth import trim
from .word_offset import fit_and_shift

if TYPE_CHECKING:
    from .distill import DistillConfig

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_PHRASE_S = 3.0
ADDED_ACCEPT: float | None = None
"""An added word's own instant-answer bar; None: the student's bars, pause wait included, as for its
other words. A word learnt from ~20 synthetic clips is not sure of real voices before it is sure of
chatter, so a lower bar of its own makes it fire in running speech (docs/add-intent/README.md)."""


def default_branch(blocks: tuple[int, ...]) -> int:
    """The block after which the side branch splits when ``--branch`` is not given: the start of the last
    stage (6 of the shipped 2-2-2-2 student's 8 blocks, 9 for 3-3-3-3)."""
    return sum(blocks[:-1])


BRANCH_AT = default_branch(StudentDims.blocks)
"""Where the new word's side branch splits from the default dims' student: before its last stage (the branch,
a copy of that stage and the head, alone learns: every old output stays as it was; an earlier split is
slower and recalls less, docs/add-intent/README.md). A student of other depth splits before its last stage too."""
POS_WEIGHT = {"branch": 3.0, "whole": 2.0}
"""The new phrase's examples per epoch, as a multiple of an average class's (``--pos-weight``). A side branch
cannot move the old words, so it can take more; the whole student's old classes lose accuracy at 3
(docs/add-intent/README.md)."""
NEAR_WEIGHT = 1.0
"""The confusable near-names' examples per epoch, as a multiple of an average class's."""
NEAR_VOICES = 4
"""Voices each training near-name is said in (``--near-names``; 0: none)."""
FINE_TUNE_BATCH = 64
"""Batch of the few-epoch fine-tune (the add-intent figures were measured with it)."""


def student_labelset(manifest: Manifest) -> LabelSet:
    """The label set a student was trained on: its manifest's, or the built-in one its labels match."""
    d = manifest.extra.get("labelset")
    ls = LabelSet.from_dict(d, source="manifest") if d else load_labelset("speech_commands")
    if ls.labels != manifest.labels:
        raise ModelError(f"the student's labels {manifest.labels} do not match its label set {ls.labels}; "
                         "re-export it with 'training pipeline'")
    return ls


def with_label(ls: LabelSet, name: str, phrases: list[str]) -> LabelSet:
    """``ls`` plus one command (output order: commands, then unknown, then silence)."""
    return LabelSet(f"{ls.name}+{name}", ls.commands + (name,), ls.phrases + (tuple(phrases),), ls.unknown, ls.silence)


def without_label(ls: LabelSet, name: str) -> LabelSet:
    """``ls`` less one command."""
    keep = [i for i, c in enumerate(ls.commands) if c != name]
    return LabelSet(ls.name.replace(f"+{name}", ""), tuple(ls.commands[i] for i in keep),
                    tuple(ls.phrases[i] for i in keep), ls.unknown, ls.silence)


def _rows(old: tuple[str, ...], new: tuple[str, ...]) -> list[int | None]:
    """For each ``new`` label, its output in ``old`` (None: a new one)."""
    return [old.index(lab) if lab in old else None for lab in new]


def grow_head(model, old: tuple[str, ...], new: tuple[str, ...]):
    """The torch student with its last layer mapped onto ``new`` labels (new rows start unlikely)."""
    from .model import with_head

    return with_head(model, _rows(old, new))


def grow_branch(model, old: tuple[str, ...], new: tuple[str, ...], at: int):
    """The torch student with the one label new to ``new`` computed by a new side branch split after block
    ``at``, set to train alone (every old output stays as it was)."""
    from .model import add_branch

    net = add_branch(model, _rows(old, new), at)
    net.train_branch_only(len(net.branches) - 1)
    return net


def shrink_head(model, labels: tuple[str, ...], name: str):
    """The torch student without the output for ``name``; every other output unchanged."""
    from .model import with_head

    return with_head(model, [i for i, lab in enumerate(labels) if lab != name])


def target_registry(args: argparse.Namespace) -> Registry:
    """Where new versions go: ``--registry``, ``$ASSISTANT_MODELS``, or the user's models folder (seeded
    with the shipped student when empty)."""
    reg = writable_registry(args.registry, args.student)
    if reg.current(args.student) is None:
        raise ModelError(f"no '{args.student}' student to extend in {reg.root} or the package")
    return reg


def add_intents(args: argparse.Namespace) -> int:
    """``training add-intent``: one intent from the command line, or every new one in ``--intents-file``."""
    if not args.intents_file:
        if not args.name:
            raise AssistantError("give a NAME and phrases, or --intents-file FILE.yaml")
        return add_intent(args)
    wanted = from_yaml(args.intents_file)  # a broken file fails before anything is written
    known = set(Manifest.read(target_registry(args).path(args.student)).labels)
    todo = [r for r in wanted if r["name"] not in known]
    if not todo:
        print(f"every student entry of {args.intents_file} is already learnt")
        return 0
    for r in todo:
        one = argparse.Namespace(**{**vars(args), "name": r["name"], "phrases": r["phrases"], "intent": r["intent"],
                                    "slot": [f"{k}={v}" for k, v in r["slots"].items()], "response": r["response"]})
        add_intent(one)
    return 0


def positive_weight(args: argparse.Namespace) -> float:
    """``--pos-weight``, or its default for a side branch / the whole student (:data:`POS_WEIGHT`)."""
    if args.pos_weight is not None:
        return float(args.pos_weight)
    return POS_WEIGHT["whole" if args.whole else "branch"]


def run_key(inputs: list, cfg: DistillConfig) -> str:
    """Name of a fine-tune's run directory: a hash of its inputs and of every training setting but the
    thread count, so a changed setting starts a new run rather than meeting the old checkpoint's refusal."""
    settings = {k: v for k, v in asdict(cfg).items() if k != "threads"}
    return hashlib.sha1(json.dumps([inputs, settings]).encode()).hexdigest()[:10]


def add_intent(args: argparse.Namespace) -> int:
    """Run ``training add-intent``; prints a summary and writes ``--json``."""
    from assistant.teacher import load_teacher
    from assistant.teacher.weights import cache_root

    from .distill import DistillConfig, train
    from .export import register, update_manifest
    from .label import label_clips
    from .model import count_parameters, load_dir

    started = time.perf_counter()
    progress = not args.quiet
    name = args.name.strip().lower()
    if not NAME_RE.match(name):
        raise AssistantError(f"'{args.name}': an intent name is lower-case letters, digits and _ (e.g. lights_on)")
    phrases = [p.strip() for p in args.phrases if p.strip()] or [name.replace("_", " ")]
    accept = None if args.accept is None else float(args.accept)
    if accept is not None and not 0 < accept <= 1:
        raise AssistantError(f"--accept {accept:g}: the instant-answer bar is a probability in (0, 1]")
    registry = target_registry(args)
    parent_dir = registry.path(args.student)
    old_student = Student(parent_dir)
    m = old_student.manifest
    old = student_labelset(m)
    if name in old.labels:
        raise AssistantError(f"'{name}' is already one of the student's labels; remove it first "
                             f"('training remove-intent {name}') or pick another name")
    blocks = StudentDims.from_dict(m.extra["dims"]).blocks
    branch = None if args.whole else default_branch(blocks) if args.branch is None else args.branch
    n_blocks = sum(blocks)
    if branch is not None and branch >= n_blocks:
        raise AssistantError(f"--branch {branch}: the student has blocks 0-{n_blocks - 1} to split after")
    new = with_label(old, name, phrases)
    tts_dir = cache_root() / "tts"
    data = Path(args.data) if args.data and Path(args.data).is_dir() else None
    print(f"adding '{name}' ({', '.join(repr(p) for p in phrases)}) to {m.name}/{m.version} -> {registry.root}")

    # 1-2. positives, checked and labelled by the teacher
    tts, rec = positives(name, phrases, args.voices, Path(args.recordings) if args.recordings else None, tts_dir,
                         progress)
    teacher = load_teacher(args.teacher, threads=args.threads)
    cache = LabelCache(args.cache or cache_root() / "labels.sqlite")
    near = near_name_clips(name, phrases, args.near_names, tts_dir, progress)
    labels = label_clips(tts + rec + near, teacher, new, cache, progress=progress).labels
    kept = [c for c in tts + rec if str(c.path) in labels and labels[str(c.path)].top == name]
    dropped = [c for c in tts + rec if c not in kept]
    heard = {str(c.path): labels[str(c.path)].transcript.get("text", "") for c in dropped if str(c.path) in labels}
    train_pos = [c for c in kept if c.dataset == "recording" or not heldout_voice(c)]
    held_pos = [c for c in kept if c.dataset == "tts" and heldout_voice(c)]
    if not train_pos:
        raise AssistantError(f"the teacher heard none of the {len(tts) + len(rec)} clips as '{name}' "
                             f"(it heard e.g. {list(heard.values())[:3]}); try another spelling of the phrase")
    samples = {c: load_audio(c.path).samples for c in kept}  # decoded once for length and training
    longest = float(np.median([trim(a, pad_s=0.0).size for a in samples.values()])) / SAMPLE_RATE
    if longest > MAX_PHRASE_S:
        raise AssistantError(f"the phrase lasts {longest:.1f} s; the student handles up to {MAX_PHRASE_S:g} s")
    window_s = m.frontend.window_seconds  # grows (in 0.25 s steps) only for phrases that do not fit
    if longest > window_s - 0.15:
        window_s = float(np.ceil((longest + 0.3) * 4) / 4)
    window = int(round(window_s * SAMPLE_RATE))
    print(f"teacher kept {len(kept)} of {len(tts) + len(rec)} clips ({len(dropped)} dropped); "
          f"median phrase {longest:.2f} s, window {window_s:g} s")

    # 3. rehearsal + no-speech, and the positives (repeated to about an average class's size)
    reh, reh_info, fit_x, found = rehearsal(old, new, phrases, old_student, cache, teacher.id, data, tts_dir,
                                            window, progress, speech=not args.no_speech, offset_fit=args.offset_rate > 0)
    kept_heard = heard_clips(args.heard, phrases)
    found_pos, found_labels = teacher_found(([] if args.no_found else found) + kept_heard, teacher, new, name, cache)
    labels, samples = {**labels, **found_labels}, {**samples, **{c: load_audio(c.path).samples for c in found_pos}}
    train_pos += found_pos
    reh_info["found_real_clips"] = {"transcribed_as_the_phrase": len(found), "learnt": len(found_pos),
                                    "speakers": sorted({c.speaker for c in found_pos}),
                                    "heard_segments": {"transcribed_as_the_phrase": len(kept_heard),
                                                       "learnt": sum(c.dataset == "heard" for c in found_pos)}}
    pos_x = np.stack([centre_on_energy(samples[c], window) for c in train_pos])
    pos_p = np.stack([labels[str(c.path)].probs for c in train_pos]).astype(np.float32)
    pos_weight = positive_weight(args)
    reps = int(max(1, round(pos_weight * len(reh) / len(new.labels) / len(train_pos))))
    pos = DistillSet(new.labels, np.repeat(pos_x, reps, 0), np.repeat(pos_p, reps, 0), ["new"] * len(pos_x) * reps,
                     [c.speaker for c in train_pos] * reps)
    # near-names the teacher hears as the phrase may be homophones ("marven"): left out, not taught either way
    other = [c for c in near if str(c.path) in labels and labels[str(c.path)].top != name]
    near_x = [centre_on_energy(load_audio(c.path).samples, window) for c in other]
    near_p = [labels[str(c.path)].probs for c in other]
    noise = NoiseBank(data / "noise" if data is not None and (data / "noise").is_dir() else None)
    parts = [reh, pos, noise_set(new, noise, max(30, len(reh) // 12), window, seed=args.seed)]
    if near_x:  # confusable negatives, repeated to weigh NEAR_WEIGHT average classes
        k = int(max(1, round(NEAR_WEIGHT * len(reh) / len(new.labels) / len(near_x))))
        parts.append(DistillSet(new.labels, np.repeat(np.stack(near_x), k, 0),
                                np.repeat(np.stack(near_p).astype(np.float32), k, 0), ["near-name"] * len(near_x) * k,
                                [""] * len(near_x) * k))
        reh_info["near_names"] = {"clips": len(near_x), "heard_as_the_phrase": len(near) - len(other),
                                  "weigh": NEAR_WEIGHT}
    if args.chatter:
        parts.append(chatter(old, new, phrases, old_student, args.chatter, tts_dir, window, progress))
        reh_info["chatter_windows"] = len(parts[-1])
    train_set = concat(parts)

    # 4. fine-tune from the current weights, one more output
    parent_net = load_dir(parent_dir, window_s)
    net = (grow_head(parent_net, old.labels, new.labels) if branch is None
           else grow_branch(parent_net, old.labels, new.labels, branch))
    cfg = DistillConfig(epochs=args.epochs, batch_size=FINE_TUNE_BATCH, lr=args.lr, threads=args.threads,
                        seed=args.seed, width=net.dims.width, mel_shift=args.mel_shift)
    key = run_key([name, phrases, m.version, str(registry.root), args.voices, args.recordings, str(data),
                   pos_weight] + ([args.chatter] if args.chatter else [])
                  + ([f"near {args.near_names} {NEAR_WEIGHT}"] if args.near_names else [])
                  + ([] if args.no_speech else ["speech windows"]) + ([] if args.no_found else ["found"])
                  + [str(c.path) for c in kept_heard]
                  + (["offset speakers out"] if args.offset_rate > 0 else [])
                  + ([f"branch {branch}"] if branch is not None else []), cfg)
    run_dir = Path(args.run_dir) / f"add-{name}-{key}"
    empty = DistillSet.empty(new.labels, window)
    model, history = train(train_set, empty, run_dir, cfg, noise, net.fe, progress=progress,
                           stop_after=args.stop_after, init=net)
    if args.stop_after is not None and len(history) < cfg.epochs:
        print(f"stopped after {len(history)} of {cfg.epochs} epochs; rerun the same command to resume")
        return 0
    # the teacher corrects the student's confusions: rehearsal clips the new student calls NAME although
    # their teacher label is something else are shown again, more often, for a short second phase
    hard = hard_negatives(model, reh, new.labels.index(name)) if args.hard_epochs > 0 else np.zeros(0, int)
    if len(hard):
        k = int(max(1, round(len(pos) / 2 / len(hard))))
        extra = DistillSet(new.labels, np.repeat(reh.x[hard], k, 0), np.repeat(reh.soft[hard], k, 0),
                           ["hard"] * len(hard) * k, [""] * len(hard) * k)
        cfg2 = replace(cfg, epochs=args.hard_epochs, lr=cfg.lr / 2)
        model, more = train(concat([train_set, extra]), empty, run_dir / "hard", cfg2, noise, net.fe,
                            progress=progress, init=model)
        history = history + more
    reh_info["hard_negatives"] = int(len(hard))
    reh_info["offset"] = fit_and_shift(model, fit_x, new.labels.index(name), args.offset_rate)

    # 5. export, register (unpromoted), evaluate, promote
    intent = args.intent or "".join(w.capitalize() for w in name.split("_"))
    slots = dict(s.split("=", 1) for s in args.slot)
    entry = {"intent": intent, "slots": slots, "phrases": phrases,
             "response": args.response or (None if slots else f"OK: {phrases[0]}."), "accept": accept}
    intents = {**(m.extra.get("intents") or {}), name: entry}
    provenance = {**(m.extra.get("data") or {}), "added": {
        "name": name, "phrases": phrases, "synthetic_clips": len(tts), "recordings": len(rec),
        "kept_by_teacher": len(kept), "dropped_by_teacher": len(dropped), "rehearsal": reh_info,
        "teacher": teacher.id, "side_branch": net.dims.branch_at if branch is not None else None,
        "positives_weigh": pos_weight,
        "human_labels_used_for_training": False}}
    manifest = {"labels": list(new.labels), "labelset": new.to_dict(), "frontend": net.fe.to_dict(),
                "dims": model.dims.to_dict(), "parameters": count_parameters(model), "distill": asdict(cfg),
                "data": provenance, "intents": intents, "parent": m.version, "added_intent": name, "metrics": {},
                **({"decision": m.extra["decision"]} if "decision" in m.extra else {})}  # the old words' bars
    rng = np.random.default_rng(0)
    calib_x = train_set.x[rng.permutation(len(train_set))[:200]]
    new_dir = register(model, registry, args.student, manifest, calib_x, calib_x, _targets(model, calib_x),
                       promote=False)
    student = Student(new_dir)
    summary: dict = {"name": name, "phrases": phrases, "parent": f"{m.name}/{m.version}",
                     "model_dir": str(new_dir), "kept": len(kept), "dropped": len(dropped),
                     "dropped_examples": list(heard.values())[:5], "recordings": len(rec),
                     "window_seconds": window_s, "rehearsal": reh_info, "epochs": len(history),
                     "side_branch": provenance["added"]["side_branch"]}
    summary["heldout_voices"] = evaluate_intent(student, None, old, name, phrases, [], held_pos, [])
    if args.eval_old or args.eval_new or args.eval_other:
        summary["evaluation"] = evaluate_intent(
            student, old_student, old, name, phrases, eval_clips(args.eval_old),
            [c for d in args.eval_new for c in find_clips([d])], [c for d in args.eval_other for c in find_clips([d])])
    metrics = {k: summary[k] for k in ("heldout_voices",) + (("evaluation",) if "evaluation" in summary else ())}
    update_manifest(new_dir, lambda m: m.update(metrics=metrics))
    registry.promote(args.student, new_dir.name)
    summary["seconds"] = time.perf_counter() - started
    from assistant.bench.measure import machine

    summary["machine"] = machine()
    print_summary(summary)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2, default=float))
        print(f"summary written to {args.json}")
    return 0


def hard_negatives(model, data: DistillSet, new_index: int, batch: int = 256) -> np.ndarray:
    """Indices of examples the model calls the new label while the teacher's label is another."""
    from .model import batch_logits

    pred = batch_logits(model, data.x, batch).argmax(1)
    return np.nonzero((pred == new_index) & (data.soft.argmax(1) != new_index))[0]


def _targets(model, x: np.ndarray) -> np.ndarray:
    """The fine-tuned float model's own argmax: int8 is kept only if it agrees within 0.5 pt."""
    import torch

    model.eval()
    with torch.inference_mode():
        return model(torch.from_numpy(x)).argmax(1).numpy()
