"""What ``training add-intent`` learns from and is measured on: the new phrase's clips, the rehearsal of the
old classes, chatter, the evaluation clips and the intents YAML it can read them from.

Kept apart from :mod:`training.add_intent` (the checks, fine-tune, export and registry steps) so that the
command's steps read in one file and the data they use in another.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, centre_on_energy, load_audio
from assistant.corpus import Clip, find_clips, select, truth_label
from assistant.errors import AssistantError
from assistant.labelset import LabelSet
from assistant.student import Student
from assistant.teacher import Teacher

from .cache import LabelCache
from .dataset import UNKNOWN_WORDS, DistillSet
from .samples import COMMANDS
from .synth import synthesize_cached, voice_mix, voices
from .word_offset import split_speakers


def norm(text: str) -> str:
    """Lower case, letters, digits and single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def remap(probs: np.ndarray, old: tuple[str, ...], new: tuple[str, ...]) -> np.ndarray:
    """Soft labels over ``old`` placed in ``new`` order (labels new to ``new`` get 0)."""
    out = np.zeros((len(probs), len(new)), np.float32)
    for i, lab in enumerate(old):
        if lab in new:
            out[:, new.index(lab)] = probs[:, i]
    return out


def rehearsal(old: LabelSet, new: LabelSet, phrases: list[str], old_student: Student, cache: LabelCache,
              teacher_id: str, data: Path | None, tts_dir: Path, window: int, progress: bool,
              speech: bool = True, offset_fit: bool = False) -> tuple[DistillSet, dict, np.ndarray, list[Clip]]:
    """Old-class examples (and, with ``speech``, windows of read speech) with teacher soft labels from the
    cache (else the old student's outputs); with ``offset_fit``, the read-speech windows of the speakers
    kept out to fit the word's offset on (:mod:`training.word_offset`; every window of the others trains):
    (N, window) float32, N = 0 without them; and the real single-word clips whose cached transcript is one
    of ``phrases`` (left out of the rehearsal; :func:`teacher_found` may make them positives)."""
    from tqdm import tqdm

    said = {norm(p) for p in phrases}
    clips: list[Clip] = []
    for w in COMMANDS:
        for v in voices(n_piper=4, n_espeak=4, seed=0):
            clips.append(Clip(synthesize_cached(w, v, tts_dir), f"tts:{v.name}", w, "tts"))
    for w in UNKNOWN_WORDS:
        if norm(w) in said:
            continue  # the new phrase is no longer "another word"
        for v in voices(n_piper=1, n_espeak=1, seed=1):
            clips.append(Clip(synthesize_cached(w, v, tts_dir), f"tts:{v.name}", w, "tts"))
    n_speech = 0
    fit: set[Clip] = set()
    words: set[Clip] = set()  # real single-word clips: where a real voice of the phrase may be found
    if data is not None:
        for name in ("gsc_v2_test_dev", "gsc_v01_sample"):
            if (data / name).is_dir():
                clips += select(find_clips([data / name]), "train")
        words.update(c for c in clips if c.dataset != "tts")
        if speech and (data / SPEECH_FOLDER).is_dir():  # running speech is not the new word either
            windows = speech_windows(data / SPEECH_FOLDER, progress)
            train_w, fit_w = split_speakers(windows) if offset_fit else (windows[::SPEECH_EVERY], [])
            fit = set(fit_w)
            clips += train_w + fit_w
            n_speech = len(train_w)
    audios = {}  # each clip decoded once: its samples and its hash (the label cache's key)
    for c in tqdm(clips, desc="rehearsal", unit="clip", disable=not progress, dynamic_ncols=True):
        try:
            audios[c] = load_audio(c.path)
        except AssistantError:
            continue
    hits = cache.get_many({a.sha256 for a in audios.values()}, teacher_id, old.id)
    xs, soft, src, held = [], [], [], []
    from_cache = from_student = left_out = 0
    found: list[Clip] = []
    for c, audio in audios.items():
        hit = hits.get(audio.sha256)
        heard = norm(hit.transcript.get("text", "")) if hit is not None else ""
        if hit is not None and any(p in heard for p in said):
            left_out += 1
            if c in words and heard in said:
                found.append(c)
            continue
        x = centre_on_energy(audio.samples, window)
        if c in fit:
            held.append(x)
            continue
        if hit is not None:
            p = hit.probs[None].astype(np.float32)
            from_cache += 1
        else:
            p = old_student.probs(centre_on_energy(x, old_student.frontend.window_samples)[None])
            from_student += 1
        xs.append(x)
        soft.append(remap(p, old.labels, new.labels)[0])
        src.append("rehearsal")
    info = {"clips": len(xs), "teacher_labels_from_cache": from_cache, "old_student_outputs": from_student,
            "left_out_as_the_new_phrase": left_out, "speech_windows": n_speech, "offset_fit_windows": len(held)}
    held_x = np.stack(held) if held else np.zeros((0, window), np.float32)
    return DistillSet(new.labels, np.stack(xs), np.stack(soft), src, [""] * len(xs)), info, held_x, found


def teacher_found(found: list[Clip], teacher: Teacher, new: LabelSet, name: str,
                  cache: LabelCache) -> tuple[list[Clip], dict]:
    """Of ``found`` (real clips the teacher transcribed as the phrase), those it also labels ``name`` over
    the grown label set, and their labels: real voices of the new word that nobody labelled, learnt as
    positives (a text-only student misses real voices far more often than synthetic ones)."""
    from .label import label_clips

    labels = label_clips(found, teacher, new, cache, progress=False).labels if found else {}
    return [c for c in found if str(c.path) in labels and labels[str(c.path)].top == name], labels


def heard_clips(folder: str | Path | None, phrases: list[str]) -> list[Clip]:
    """The segments ``assistant run/listen --keep-heard`` kept in ``folder`` whose teacher transcript is one of
    ``phrases``: the household's own voices of the word, deferred by a student that did not know them yet
    (:func:`teacher_found` decides which are learnt). None: the default folder; "" or a missing one: none."""
    from assistant.heard import heard_root, read_heard

    folder = heard_root() if folder is None else folder
    if not folder or not Path(folder).is_dir():  # "": none (the bench's runs never read the user's folder)
        return []
    said = {norm(p) for p in phrases}
    return [Clip(path, "heard", None, "heard") for path, text in read_heard(folder) if norm(text) in said]


SPEECH_FOLDER = "librispeech_snippets"
"""Read speech (251 speakers) whose 1 s windows join the rehearsal: an added word learnt from single words
alone fires on windows of sentences (docs/add-intent/README.md). The wake-word phrases and coffee orders
stay evaluation sources."""
SPEECH_EVERY = 2
"""Every second window (~750 of them): half the fine-tune's added time for most of the effect."""


def speech_windows(folder: Path, progress: bool) -> list[Clip]:
    """The 1 s windows ``training pipeline`` cuts from ``folder`` (same files, so its teacher labels are
    cache hits when it ran here)."""
    from assistant.teacher.weights import cache_root

    from .pipeline import SPEECH_WINDOW_HOP_S, SPEECH_WINDOWS_PER_FILE
    from .windows import cut_windows

    return cut_windows(find_clips([folder]), SAMPLE_RATE, int(SPEECH_WINDOW_HOP_S * SAMPLE_RATE),
                       SPEECH_WINDOWS_PER_FILE.get(folder.name, 4), Path(cache_root()) / "windows", progress=progress)


def chatter(old: LabelSet, new: LabelSet, phrases: list[str], old_student: Student, n_sentences: int,
            tts_dir: Path, window: int, progress: bool) -> DistillSet:
    """Running speech (:mod:`training.chatter`): ``n_sentences`` sentences without the new phrases, each
    read by two of the rehearsal's voices, cut every 0.25 s, labelled with the old student's outputs."""
    from tqdm import tqdm

    from .chatter import chatter_windows, sentences_without

    pool = voices(n_piper=4, n_espeak=4, seed=0)
    said = sentences_without(phrases)[:n_sentences]
    todo = [(s, pool[(2 * i + k) % len(pool)]) for i, s in enumerate(said) for k in (0, 1)]
    paths = [synthesize_cached(s, v, tts_dir)
             for s, v in tqdm(todo, desc="chatter", unit="clip", disable=not progress, dynamic_ncols=True)]
    x = chatter_windows(paths, window)
    p = old_student.probs(np.stack([centre_on_energy(w, old_student.frontend.window_samples) for w in x]))
    return DistillSet(new.labels, x, remap(p, old.labels, new.labels), ["chatter"] * len(x),
                      [f"chatter:{i}" for i in range(len(x))])


def positives(name: str, phrases: list[str], n_voices: int, recordings: Path | None, tts_dir: Path,
              progress: bool) -> tuple[list[Clip], list[Clip]]:
    """(synthetic, recorded) clips of the new phrases; speaker = voice or ``user``."""
    from tqdm import tqdm

    vs = voice_mix(n_voices, seed=7)
    jobs = [(p, v) for p in phrases for v in vs]
    tts = [Clip(synthesize_cached(p, v, tts_dir), f"tts:{v.name}", name, "tts")
           for p, v in tqdm(jobs, desc="synthesising", unit="clip", disable=not progress, dynamic_ncols=True)]
    rec: list[Clip] = []
    if recordings is not None:
        if not recordings.is_dir():
            raise AssistantError(f"{recordings}: no such folder of recordings")
        rec = [Clip(c.path, f"user:{c.path.stem}", name, "recording") for c in find_clips([recordings])]
        if not rec:
            raise AssistantError(f"{recordings}: no audio files in it (record some with 'assistant record {name}')")
    return tts, rec


def near_name_clips(name: str, phrases: list[str], n_voices: int, tts_dir: Path, progress: bool) -> list[Clip]:
    """Confusable negatives: the training share of each phrase's near-names (:mod:`training.near_names`),
    each said by ``n_voices`` Piper/espeak-ng voices (cached). The teacher labels them like any clip:
    "martin" is another word to it, and a near-name it hears as the phrase teaches that instead."""
    from tqdm import tqdm

    from .near_names import near_names, split

    if n_voices <= 0:
        return []
    names = list(dict.fromkeys(n for p in phrases for n in split(near_names(p))[0]))
    vs = voices(n_piper=(n_voices + 1) // 2, n_espeak=n_voices // 2, seed=13)
    jobs = [(n, v) for n in names for v in vs]
    return [Clip(synthesize_cached(n, v, tts_dir), f"tts:{v.name}", None, "near-name")
            for n, v in tqdm(jobs, desc="near-names", unit="clip", disable=not progress, dynamic_ncols=True)]


def heldout_voice(clip: Clip) -> bool:
    """A fifth of the synthetic voices never trains: they measure the new intent."""
    return int(hashlib.sha1(clip.speaker.encode()).hexdigest()[:6], 16) % 5 == 0


def eval_clips(dirs: list[str]) -> list[Clip]:
    """Evaluation clips from labelled folders; the Speech Commands dev set contributes its test speakers only."""
    out: list[Clip] = []
    for d in dirs:
        clips = find_clips([d])
        if Path(d).name == "gsc_v2_test_dev":
            clips = select(clips, "test")
        out += clips
    return out


def word_of(clip: Clip) -> str | None:
    """The spoken word of a Speech Commands clip (folder, or ``<word>_`` prefix inside ``_unknown_``)."""
    if clip.folder_label == "_unknown_":
        m = re.match(r"^([a-z]+)_[0-9a-f]{8}_nohash", clip.path.stem)
        return m.group(1) if m else None
    return clip.folder_label


def evaluate_intent(student: Student, old_student: Student | None, old: LabelSet, name: str, phrases: list[str],
                    old_clips: list[Clip], new_clips: list[Clip], other_clips: list[Clip]) -> dict:
    """Old-class accuracy (before/after), new-intent recall (hits, and what the missed clips were heard
    as), false accepts of other words."""
    from .evaluate import student_predictions

    def predict(s: Student, clips: list[Clip]) -> list[str]:
        kept, pred, bad = student_predictions(s, clips)
        if bad:
            raise AssistantError(f"{bad[0][0]}: unreadable evaluation clip ({bad[0][1]})")
        return [s.labels[i] for i in pred]

    said = {norm(p) for p in phrases}
    old_eval = [(c, truth_label(c, old)) for c in old_clips if norm(word_of(c) or "") not in said]
    old_eval = [(c, t) for c, t in old_eval if t is not None]
    out: dict = {"old_clips": len(old_eval), "new_clips": len(new_clips), "other_clips": len(other_clips)}
    if old_eval:
        truth = [t for _, t in old_eval]
        after = predict(student, [c for c, _ in old_eval])
        # after adding NAME, an old-class clip heard as NAME is simply wrong
        out["old_accuracy_after"] = float(np.mean([a == t for a, t in zip(after, truth)]))
        if old_student is not None:
            before = predict(old_student, [c for c, _ in old_eval])
            out["old_accuracy_before"] = float(np.mean([b == t for b, t in zip(before, truth)]))
            out["old_accuracy_change_pts"] = (out["old_accuracy_after"] - out["old_accuracy_before"]) * 100
        out["old_clips_heard_as_new"] = int(sum(a == name for a in after))
    if new_clips:
        got = predict(student, new_clips)
        out["new_hits"] = int(sum(g == name for g in got))
        out["new_recall"] = out["new_hits"] / len(got)
        out["new_missed_as"] = dict(Counter(g for g in got if g != name).most_common())
    if other_clips:
        got = predict(student, other_clips)
        out["false_accepts"] = int(sum(g == name for g in got))
        out["false_accept_rate"] = out["false_accepts"] / len(other_clips)
    return out


def from_yaml(path: str) -> list[dict]:
    """New intents written as data: the ``student:`` entries of a Home Assistant intents YAML that carry
    ``phrases`` (or whose intent's sentences are plain text), as add-intent requests."""
    from assistant.intents import IntentSet
    from assistant.labelset import read_yaml

    data, source = read_yaml(path, "assistant.intents", (), "intents")
    IntentSet(data, source)  # validates the file (one clear line if it is broken)
    out = []
    for label, entry in (data.get("student") or {}).items():
        phrases = entry.get("phrases")
        if not phrases:
            blocks = ((data.get("intents") or {}).get(entry["intent"]) or {}).get("data") or []
            sentences = [x for b in blocks for x in b.get("sentences", [])]
            phrases = [x for x in sentences if not re.search(r"[\[\]{}()|<>]", x)]
        if phrases:
            out.append({"name": str(label), "phrases": [str(p) for p in phrases], "intent": entry["intent"],
                        "slots": dict(entry.get("slots") or {}), "response": entry.get("response")})
    if not out:
        raise AssistantError(f"{source}: no student entry with 'phrases:' (or plain sentences) to learn")
    return out
