"""The household rows of ``training bench-add-intent``: a word added from text, used for a while with
``--keep-heard`` on, then learnt again from what the loop kept.

The uses are real clips of ``train`` speakers (human labels pick which clips a simulated household says,
as they pick every evaluation clip); what is learnt from them is only what the teacher heard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.corpus import Clip, find_clips
from assistant.student import Student

from ..add_intent_data import heard_clips, word_of


def household_clips(data: Path, word: str, n: int, exclude: set[str]) -> tuple[list[Clip], list[Clip]]:
    """(one clip of ``word`` from each of ``n`` ``train`` speakers not in ``exclude``, 2n clips of other words
    from ``train`` speakers): what a household says to the assistant, never an evaluation speaker's."""
    clips = find_clips([data / "gsc_v2_test_dev"]) + find_clips([data / "gsc_v01_sample"])
    train = [c for c in clips if c.split == "train"]
    rng = np.random.default_rng(1)
    by_speaker: dict[str, Clip] = {}
    for i in rng.permutation(len(train)):
        c = train[i]
        if word_of(c) == word and c.speaker not in exclude:
            by_speaker.setdefault(c.speaker, c)
    others = [c for c in train if word_of(c) not in (word, None)]
    return list(by_speaker.values())[:n], [others[i] for i in rng.permutation(len(others))[:2 * n]]


def household(student: Student, teacher, name: str, uses: list[Clip], others: list[Clip], folder: Path) -> dict:
    """A student that learnt ``name`` from text, in the assistant's loop with the in-process teacher answering
    its deferrals and ``--keep-heard`` on (``folder``): ``uses`` (clips of the word) and ``others`` (other
    words), each alone in a stream, as a household would say them over some days. What it kept is what the
    next ``add-intent`` learns from; counts of what happened to the uses and what was kept."""
    from assistant.audio import load_audio
    from assistant.heard import HeardStore
    from assistant.intents import IntentSet
    from assistant.loop import Assistant

    intents = IntentSet.load().with_student(student.manifest.extra.get("intents"))
    target = (student.manifest.extra.get("intents") or {}).get(name, {}).get("intent")
    store = HeardStore(folder)
    before, after = np.zeros(8000, np.float32), np.zeros(16000, np.float32)
    at_once = answered = 0
    for k, c in enumerate(uses + others):
        bot = Assistant(student, intents, teacher.hear, keep=store.keep)
        events = bot.feed_all(np.concatenate([before, load_audio(c.path).samples, after]))
        if k < len(uses):
            at_once += any(e.answered_by == "student" and e.decision.label == name for e in events)
            answered += any(e.intent is not None and e.intent.intent == target for e in events)
    return {"uses": len(uses), "other_clips": len(others), "use_speakers": sorted({c.speaker for c in uses}),
            "uses_answered_at_once": at_once, "uses_answered": answered, "kept": store.kept,
            "kept_as_the_word": len(heard_clips(folder, [name]))}
