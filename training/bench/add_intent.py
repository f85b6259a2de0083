"""``training bench-add-intent``: how well ``add-intent`` learns a word the shipped student never had.

For each word (default: the issue's marvin, sheila, house, happy, bird — real recordings exist in
``../shared/data``), two runs, each in a
fresh registry seeded with the shipped student (or ``--student DIR``, a candidate measured before it ships):

- **text only**: ``add-intent WORD``;
- **text + 5 recordings**: plus five real clips of the word from five ``train`` speakers.

Measured on speakers never used for training or enrolment (``calib`` + ``test`` splits): recall on the
word's real clips; false accepts = clips of other words (the 12 classes and other words) heard as the
word; the old classes' accuracy before and after on ``gsc_v2_test_dev`` test speakers; wall time.
Human labels (file names) pick the evaluation and enrolment clips only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE
from assistant.bench.measure import machine
from assistant.corpus import Clip, find_clips
from assistant.errors import AssistantError
from assistant.registry import DEFAULT_NAME, PACKAGE_ROOT, Registry
from assistant.student import Student

from ..add_intent import add_intent, positive_weight, student_labelset, with_label
from ..cache import LabelCache
from ..add_intent_data import word_of
from ..commands import add_intent_options
from .household import household, household_clips
from .other_words import false_accepts, near_name_windows, real_sources, speech_sources


def _link(clips: list[Clip], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, c in enumerate(clips):
        os.symlink(c.path.resolve(), folder / f"{i:04d}-{c.path.parent.name}-{c.path.name}")
    return folder


def word_clips(data: Path, word: str) -> tuple[list[Clip], list[Clip], list[Clip]]:
    """(enrolment pool from train speakers, the word on held-out speakers, other words on held-out speakers)."""
    clips = find_clips([data / "gsc_v2_test_dev"]) + find_clips([data / "gsc_v01_sample"])
    mine = [c for c in clips if word_of(c) == word]
    held = [c for c in clips if c.split != "train"]
    enrol = [c for c in mine if c.split == "train"]
    return enrol, [c for c in mine if c.split != "train"], [c for c in held if word_of(c) not in (word, None)]


def live_answers(student: Student, name: str, new_clips: list[Clip], other_clips: list[Clip]) -> dict:
    """The new student in the assistant's own loop (shipped decision settings), each clip alone in a
    stream (0.5 s before, 1 s after): how often the word is answered at once by the student, and how
    often another word is answered at once as the word. The rest would go to the teacher."""
    from assistant.audio import load_audio
    from assistant.intents import IntentSet

    from .assistant import first_accept

    intents = IntentSet.load().with_student(student.manifest.extra.get("intents"))
    before, after = np.zeros(8000, np.float32), np.zeros(16000, np.float32)

    def label(c: Clip) -> str | None:
        e = first_accept(student, intents, load_audio(c.path).samples, before, after)
        return e.decision.label if e is not None else None

    pos = [label(c) for c in new_clips]
    neg = [label(c) for c in other_clips]
    return {"answered_at_once": float(np.mean([p == name for p in pos])) if pos else None,
            "instant_false_accepts": int(sum(n == name for n in neg)),
            "instant_false_accept_rate": float(np.mean([n == name for n in neg])) if neg else None}


def running_speech(student: Student, data: Path, name: str | None) -> dict:
    """The student in the loop (its own decision settings) on every no-command file of ``data`` (coffee
    orders, FSDD digits, noise: running speech that holds no command): answers at once, per label;
    ``new_word``: those of ``name``, ``old_words``: the rest."""
    from collections import Counter

    from assistant.loop import LoopConfig, student_decision, word_bars

    from ..bars import accepts, record_no_command

    cfg, added = student_decision(student, LoopConfig()), word_bars(student)
    recs = record_no_command(student, data, progress=False)
    heard = Counter(label for r in recs for _, label in accepts(r.calls, student.labels, cfg, added))
    return {"hours": sum(r.seconds for r in recs) / 3600, "new_word": heard.get(name, 0) if name else 0,
            "old_words": sum(v for k, v in heard.items() if k != name), "by_label": dict(heard)}


def passed_settings(args: argparse.Namespace) -> dict:
    """The add-intent settings (``add_intent_options.PASSED_TO_ADD_INTENT``) in ``args``, by attribute name."""
    return {(dest := flag[2:].replace("-", "_")): getattr(args, dest)
            for flag, _ in add_intent_options.PASSED_TO_ADD_INTENT}


def add_intent_args(args: argparse.Namespace, word: str, *extra: str) -> argparse.Namespace:
    """``training add-intent WORD …`` as its own parser reads it, with the bench's settings passed on (the
    rest are add-intent's own defaults)."""
    argv = [word, "--data", str(args.data), *extra]
    for flag, value in passed_settings(args).items():
        if value is True:
            argv.append(f"--{flag.replace('_', '-')}")
        elif value is not None and value is not False:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "heard", None) is None and "--heard" not in extra:  # never the user's own kept segments
        argv += ["--heard", ""]
    return add_intent_options.parse(argv + (["--quiet"] if args.quiet else []))


def seed_registry(root: Path, parent: Path) -> None:
    """Make the student in ``parent`` (a model directory) the current ``speech_commands`` of the registry at
    ``root``, so add-intent extends it rather than the shipped one (which it seeds an empty registry with)."""
    reg = Registry(root)
    version = Student(parent).manifest.version
    version = version if version.startswith("v") else "v1"  # an unregistered candidate
    shutil.copytree(parent, reg.root / DEFAULT_NAME / version, dirs_exist_ok=True)
    reg.promote(DEFAULT_NAME, version)


def one_run(args: argparse.Namespace, word: str, tmp: Path, recordings: Path | None, new: Path, other: Path,
            parent: Path, heard: Path | None = None) -> dict:
    """One add-intent run in its own registry (holding ``parent``); its summary. ``heard``: the segments a
    household's loop kept (:func:`household`), learnt from as ``--heard``."""
    tag = "heard" if heard else "rec" if recordings else "text"
    reg = tmp / f"reg-{tag}"
    seed_registry(reg, parent)
    out = tmp / f"{word}-{tag}.json"
    run = add_intent_args(args, word, "--registry", str(reg), "--run-dir", str(tmp / "runs"),
                          "--eval-old", str(Path(args.data) / "gsc_v2_test_dev"), "--eval-new", str(new),
                          "--eval-other", str(other), "--json", str(out),
                          *(["--recordings", str(recordings)] if recordings else []),
                          *(["--heard", str(heard)] if heard else []))
    add_intent(run)
    return json.loads(out.read_text())


def pool(rows: list[dict]) -> list[dict]:
    """Per mode, every word's clips together: recall and false-accept rate over all of them, the worst
    old-class change and the slowest run."""
    out = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        rs = [r for r in rows if r["mode"] == mode]
        hits = sum(r["hits"] for r in rs)
        n, fa, other = sum(r["new_clips"] for r in rs), sum(r["false_accepts"] for r in rs), sum(r["other_clips"] for r in rs)
        out.append({"mode": mode, "words": len(rs), "hits": hits, "new_clips": n, "recall": hits / n if n else 0.0,
                    "false_accepts": fa, "false_accept_rate": fa / other if other else 0.0,
                    "worst_old_change_pts": min(r["old_change_pts"] for r in rs),
                    "slowest_s": max(r["seconds"] for r in rs)})
    return out


def source_table(rows: list[dict]) -> list[str]:
    """Markdown: false accepts (top label the new word) per source of other words, per run and pooled per mode."""
    srcs = list(dict.fromkeys(k for r in rows for k in r["other_words"]["by_source"]))

    def cell(v: dict) -> str:
        return f"{v['false_accepts']}/{v['windows']} ({v['false_accepts'] / v['windows']:.1%})" if v["windows"] else "–"

    def total(rs: list[dict], key: str | None) -> dict:
        vs = [(r["other_words"]["by_source"].get(key) if key else r["other_words"]["real"]) for r in rs]
        return {"false_accepts": sum(v["false_accepts"] for v in vs if v), "windows": sum(v["windows"] for v in vs if v),
                "at_bar": sum(v.get("at_bar", 0) for v in vs if v)}

    real = [k for k in srcs if k != "near-names"]
    out = ["", "False accepts by source (1 s windows whose top label is the new word; last column: of the real "
           "ones, those that also clear the word's instant-answer bar):", "",
           "| word | mode | " + " | ".join(srcs) + " | real, all sources | real, at the bar |",
           "|---|---|" + "---|" * (len(srcs) + 2)]
    out += [f"| {r['word']} | {r['mode']} | " + " | ".join(cell(r["other_words"]["by_source"].get(k, {"windows": 0}))
                                                       for k in srcs)
            + f" | {cell(r['other_words']['real'])} | {r['other_words']['real'].get('at_bar', '–')} |" for r in rows]
    for mode in dict.fromkeys(r["mode"] for r in rows):
        rs = [r for r in rows if r["mode"] == mode]
        t = total(rs, None)
        out.append(f"| **pooled** | {mode} | " + " | ".join(cell(total(rs, k)) for k in srcs)
                   + f" | **{cell(t)}** | {t['at_bar']} |")
    out.append(f"\nReal sources: {', '.join(real)}; near-names are synthetic (names never trained on, held-out "
               "voices; those the teacher hears as the word left out).")
    return out


def report(rows: list[dict], used: argparse.Namespace, m: dict, parent: dict, extended: str) -> tuple[list[str], dict]:
    """The Markdown lines and the JSON object for finished ``rows`` run with add-intent settings ``used``;
    ``parent``: the extended student's :func:`running_speech`; ``extended``: which student that is."""
    bar = "the student's" if used.accept is None else f"{used.accept:g}"
    lines = [f"# add-intent benchmark\n\nMachine: {m['cpu']}, {m['cores']} cores; student extended: {extended}; "
             f"{used.epochs} epochs, "
             f"{used.voices} synthetic voices, threads {used.threads}, positives weigh {positive_weight(used):g} average "
             f"classes, {used.hard_epochs} hard-negative epochs, "
             + (f"{used.chatter} chatter sentences, " if used.chatter else "")
             + (f"each near-name said in {used.near_names} voices as a negative, " if used.near_names
                else "no near-name negatives, ")
             + ("no read-speech windows, " if used.no_speech else "read-speech windows in the rehearsal, ")
             + ("real clips of the word in the rehearsal audio left out, " if used.no_found else
                "real clips of `train` speakers that the teacher hears as the word learnt as positives, ")
             + (f"the word's logit offset fitted to at most {used.offset_rate:.1%} of held-out read-speech windows, "
                if used.offset_rate else "no logit offset, ")
             + ("the whole student fine-tuned, " if used.whole
                else "the word learnt in a side branch "
                + (f"after block {used.branch}" if used.branch is not None else "split before the last stage")
                + " (old outputs frozen), ")
             + f"new word's accept bar {bar}. Recall on the "
             "word's real clips from speakers "
             "never trained or enrolled on (`calib` + `test` splits of gsc_v2_test_dev `_unknown_` and "
             "gsc_v01_sample); false accepts = other words' clips from those speakers heard as the word; old "
             "classes = gsc_v2_test_dev `test` speakers (clips of the word excluded). Live loop: the same clips, "
             "each alone in a stream through the assistant's loop with its shipped decision settings: the word "
             "answered at once by the student / other words answered at once as the word (the rest would go "
             "to the teacher). Running speech: every no-command file (coffee orders, FSDD digits, noise; "
             f"{parent['hours']:.2f} h) through the loop: answers at once as the new word / as old words (the "
             f"shipped student: {parent['old_words']}).\n",
             "| word | mode | time | teacher kept/dropped | offset | recall | missed clips heard as | false accepts "
             "| old classes before → after | live: answered at once | live: others answered as it "
             "| running speech: the word / old words |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reh = (r.get("summary") or {}).get("rehearsal") or {}
        off, found = reh.get("offset") or {}, reh.get("found_real_clips") or {}
        lines.append(f"| {r['word']} | {r['mode']} | {r['seconds']:.0f} s | {r['kept']}/{r['dropped']}"
                     + (f" + {found['learnt']} found" if found.get("learnt") else "") + " | "
                     f"{off.get('offset', 0.0):+.2f} | "
                     f"{r['recall']:.1%} ({r['hits']}/{r['new_clips']} clips, {r['new_speakers']} speakers) | "
                     f"{', '.join(f'{k} {v}' for k, v in r['missed_as'].items()) or '–'} | "
                     f"{r['false_accepts']}/{r['other_clips']} ({r['false_accept_rate']:.1%}) | "
                     f"{r['old_before']:.1%} → {r['old_after']:.1%} ({r['old_change_pts']:+.1f}) | "
                     f"{r['live']['answered_at_once']:.1%} | {r['live']['instant_false_accepts']}/{r['other_clips']} | "
                     f"{r['running_speech']['new_word']} / {r['running_speech']['old_words']} |")
    lines += source_table(rows)
    homes = [r for r in rows if r.get("household")]
    if homes:
        lines += ["", "Households (`uses heard` rows): the text-only student in the assistant's loop with the in-process "
                  "teacher answering its deferrals and `--keep-heard` on, hearing each use (one clip of the word by each "
                  "of N `train` speakers, never an evaluation or enrolment speaker) and 2N other words' clips alone in a "
                  "stream; then `add-intent` again with `--heard` on what it kept:", "",
                  "| word | uses | answered at once | answered (teacher included) | segments kept | heard as the word "
                  "| learnt |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['word']} | {h['uses']} (+ {h['other_clips']} other words) | {h['uses_answered_at_once']} | "
                  f"{h['uses_answered']} | {h['kept']} | {h['kept_as_the_word']} | "
                  f"{r['summary']['rehearsal']['found_real_clips']['heard_segments']['learnt']} |"
                  for r in homes for h in [r["household"]]]
    pooled = pool(rows)
    if len({r["word"] for r in rows}) > 1:
        lines += ["", "All words pooled (each clip counts once):", "",
                  "| mode | words | recall | false accepts | old classes, worst change | slowest |", "|---|---|---|---|---|---|"]
        lines += [f"| {q['mode']} | {q['words']} | {q['recall']:.1%} ({q['hits']}/{q['new_clips']}) | "
                  f"{q['false_accept_rate']:.1%} | {q['worst_old_change_pts']:+.1f} | {q['slowest_s']:.0f} s |"
                  for q in pooled]
    settings = {**passed_settings(used), "pos_weight": positive_weight(used)}  # the weight add-intent used
    return lines, {"rows": rows, "pooled": pooled, "machine": m, "add_intent": settings,
                   "parent_running_speech": parent}


def _done_rows(path: Path, settings: dict) -> list[dict]:
    """Rows an interrupted bench with the same settings finished (``rows.jsonl`` in the report folder)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            saved = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the interruption
        if saved.get("settings") == settings:
            rows.append(saved["row"])
    return rows


def bench_add_intent(args: argparse.Namespace) -> int:
    """Run the benchmark; prints a table, writes JSON + Markdown under ``--report-dir``. Each finished run
    is kept in ``add-intent-bench.rows.jsonl`` there, so a rerun with the same settings resumes."""
    data = Path(args.data)
    if not (data / "gsc_v2_test_dev").is_dir():
        raise AssistantError(f"{data}: needs gsc_v2_test_dev/ (the shared real-audio folder)")
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    used = add_intent_args(args, "word")  # the settings every run has
    parent_dir = Path(args.student) if args.student else Registry(PACKAGE_ROOT).path()
    Student(parent_dir)  # a missing or broken model directory: one line, before any work
    settings = {**passed_settings(used), "data": str(data.resolve()),
                **({"student": str(parent_dir.resolve())} if args.student else {})}
    saved = report_dir / "add-intent-bench.rows.jsonl"
    done = {(r["word"], r["mode"]): r for r in _done_rows(saved, settings)}
    from assistant.teacher import load_teacher
    from assistant.teacher.weights import cache_root

    parent = running_speech(Student(parent_dir, threads=1), data, None)
    print(f"the student extended ({parent_dir}) in running speech: {parent['old_words']} answers at once in {parent['hours']:.2f} h "
          f"of no-command audio {parent['by_label']}")
    teacher = load_teacher(used.teacher, threads=used.threads)
    cache = LabelCache(used.cache or cache_root() / "labels.sqlite")
    old = student_labelset(Student(parent_dir).manifest)
    tts_dir = cache_root() / "tts"
    speech = speech_sources(data, SAMPLE_RATE)  # read once: the same for every word
    if done:
        print(f"resuming: {len(done)} run(s) already done with these settings ({saved})")
    rows = []
    for word in [w.strip() for w in args.words.split(",") if w.strip()]:
        enrol, new_clips, other_clips = word_clips(data, word)
        if len(enrol) < 5 or not new_clips:
            raise AssistantError(f"'{word}': needs 5 train-speaker clips and some held-out ones "
                                 f"(found {len(enrol)} and {len(new_clips)})")
        rng = np.random.default_rng(0)
        by_speaker: dict[str, Clip] = {}
        for i in rng.permutation(len(enrol)):
            by_speaker.setdefault(enrol[i].speaker, enrol[i])
        five = list(by_speaker.values())[:5]
        sources = real_sources(data, other_clips, SAMPLE_RATE, speech)
        near_x, near_info = near_name_windows(word, teacher, with_label(old, word, [word]), cache, tts_dir,
                                              SAMPLE_RATE, not args.quiet)
        with tempfile.TemporaryDirectory(prefix=f"bench-add-{word}-") as t:
            tmp = Path(t)
            new, other = _link(new_clips, tmp / "new"), _link(other_clips, tmp / "other")
            rec = _link(five, tmp / "enrol")
            modes = [("text only", None), ("text + 5 recordings", rec)]
            modes += [(f"text + {args.household} uses heard", "heard")] if args.household else []
            text_dir: Path | None = None
            for label, recordings in modes:
                if (word, label) in done:
                    rows.append(done[(word, label)])
                    continue
                hh = None
                if recordings == "heard":  # the text-only student in a household's loop, then learnt again
                    text_dir = text_dir or Path(one_run(args, word, tmp, None, new, other, parent_dir)["model_dir"])
                    uses, others = household_clips(data, word, args.household, {c.speaker for c in five})
                    hh = household(Student(text_dir, threads=1), teacher, word, uses, others, tmp / "heard")
                    s = one_run(args, word, tmp, None, new, other, parent_dir, heard=tmp / "heard")
                else:
                    s = one_run(args, word, tmp, recordings, new, other, parent_dir)
                if recordings is None:
                    text_dir = Path(s["model_dir"])
                learnt = set(s["rehearsal"].get("found_real_clips", {}).get("speakers", []))
                learnt |= set(hh["use_speakers"] if hh else [])
                if learnt & {c.speaker for c in new_clips + other_clips}:  # never: found clips are train speakers'
                    raise AssistantError(f"'{word}': clips found to learn from share speakers with the evaluation")
                student = Student(Path(s["model_dir"]), threads=1)  # the new version, for both loop measures
                e = s["evaluation"]
                rows.append({"word": word, "mode": label, "seconds": s["seconds"], "kept": s["kept"],
                             "dropped": s["dropped"], "recall": e["new_recall"], "hits": e["new_hits"],
                             "new_clips": e["new_clips"], "missed_as": e["new_missed_as"],
                             "new_speakers": len({c.speaker for c in new_clips}),
                             "false_accepts": e["false_accepts"], "other_clips": e["other_clips"],
                             "false_accept_rate": e["false_accept_rate"], "old_before": e["old_accuracy_before"],
                             "old_after": e["old_accuracy_after"], "old_change_pts": e["old_accuracy_change_pts"],
                             "old_clips": e["old_clips"], "enrolment_speakers": [c.speaker for c in five]
                             if recordings else [], "summary": s,
                             "other_words": false_accepts(student, word, {**sources, "near-names": near_x}),
                             "near_names": near_info,
                             "live": live_answers(student, word, new_clips, other_clips),
                             "running_speech": running_speech(student, data, word),
                             **({"household": hh} if hh else {})})
                r = rows[-1]
                with saved.open("a") as f:
                    f.write(json.dumps({"settings": settings, "row": r}, default=float) + "\n")
                fa = r["other_words"]
                print(f"{word} / {label}: recall {r['recall']:.1%} ({r['new_clips']} clips), false accepts "
                      f"{fa['real']['rate']:.2%} of {fa['real']['windows']} real windows, "
                      + ", ".join(f"{k} {v['false_accepts']}/{v['windows']}" for k, v in fa["by_source"].items())
                      + f"; old classes {r['old_change_pts']:+.1f} pts, {r['seconds']:.0f} s; "
                      f"live loop: {r['live']['answered_at_once']:.1%} answered at once, "
                      f"{r['live']['instant_false_accepts']} other clips answered as the word; running speech: "
                      f"{r['running_speech']['new_word']} times the word, {r['running_speech']['old_words']} old words"
                      + (f"; household: {hh['uses']} uses ({hh['uses_answered_at_once']} at once, {hh['uses_answered']} "
                         f"answered), {hh['kept']} segments kept, {hh['kept_as_the_word']} heard as the word" if hh else ""))
    m = Student(parent_dir).manifest
    lines, out = report(rows, used, machine(), parent,
                        f"{m.name}/{m.version} ({m.extra.get('parameters', '?')} parameters, {parent_dir})")
    (report_dir / "add-intent-bench.md").write_text("\n".join(lines) + "\n")
    (report_dir / "add-intent-bench.json").write_text(json.dumps(out, indent=2, default=float))
    saved.unlink(missing_ok=True)  # the full report holds every row now
    print("\n".join(lines[1:]))
    print(f"report: {report_dir / 'add-intent-bench.md'}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=float))
    return 0
