"""Synthetic running speech ("chatter") for ``add-intent``: everyday sentences read by the synthetic
voices, cut into the student's windows every quarter second, with the **current student's** outputs as
their soft labels (its new word at 0).

A fine-tune that adds a word sees the new word's clips and single-word rehearsal clips only, so nothing
holds its outputs on running speech where it was, and an added word then fires in real no-command audio
(docs/add-intent/README.md). Chatter windows
keep the old student's answers on running speech (learning without forgetting) and teach that running
speech is not the new word. The sentences are written for this file and hold none of the student's
command words; a sentence that holds a new phrase is left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from assistant.audio import SAMPLE_RATE, load_audio

SENTENCES = (
    "could you pass me the salt and pepper please",
    "I think it will rain later this afternoon",
    "we need more milk eggs and some bread",
    "the meeting was moved to half past ten",
    "my sister is coming to visit next weekend",
    "did you remember to feed the cat this morning",
    "the train was late again so I missed the bus",
    "I'd like a large coffee with oat milk",
    "let's have pasta for dinner tonight",
    "the kids are playing in the garden",
    "have you seen my keys anywhere",
    "the package should arrive by tomorrow evening",
    "I'm going to take a shower and then read for a while",
    "can you believe how warm it is today",
    "the doctor said to drink more water",
    "we watched a really good film last night",
    "it takes about twenty minutes to walk to the station",
    "please remember to water the plants",
    "the printer in the office is broken again",
    "I'll call you back after lunch",
    "this soup needs a little more salt",
    "my phone battery is almost empty",
    "the neighbours are having a party this saturday",
    "she bought a new bike for the summer",
    "what time does the pharmacy close",
    "I can't find the charger for my laptop",
    "the weather forecast says sunny with some clouds",
    "we should book the tickets before they sell out",
    "he works at the hospital near the river",
    "the dishwasher finished an hour ago",
    "let me check my calendar for thursday",
    "the recipe calls for two cups of flour",
    "our flight leaves early in the morning",
    "the library is closed during public holidays",
    "I have a dentist appointment at three",
    "they painted the kitchen a pale green",
    "a cappuccino and a blueberry muffin please",
    "the baby finally fell asleep",
    "we ran out of coffee filters",
    "could you speak a little louder please",
    "the shop around the corner sells fresh fish",
    "my brother just started a new job",
    "the car needs new tyres before winter",
    "I'm not sure what to cook this evening",
    "the football match starts at eight",
    "thanks for helping me move the sofa",
    "the window in the bedroom won't close properly",
    "let's meet at the cafe near the park",
)
"""Everyday sentences without the student's command words (yes, no, up, down, left, right, on, off, stop, go)."""


def sentences_without(phrases: list[str]) -> list[str]:
    """:data:`SENTENCES` minus those that hold one of ``phrases`` as whole words."""
    pats = [re.compile(rf"\b{re.escape(p.lower().strip())}\b") for p in phrases if p.strip()]
    return [s for s in SENTENCES if not any(p.search(s) for p in pats)]


def chatter_windows(paths: list[Path], window: int, hop_s: float = 0.25) -> np.ndarray:
    """Every ``window``-sample cut of each clip at ``hop_s`` steps (the last cut ends at the clip's end)."""
    hop = int(hop_s * SAMPLE_RATE)
    out = []
    for p in paths:
        a = load_audio(p).samples
        if a.size < window:
            a = np.pad(a, (0, window - a.size))
        starts = list(range(0, a.size - window + 1, hop))
        if starts[-1] != a.size - window:
            starts.append(a.size - window)
        out += [a[s:s + window] for s in starts]
    return np.stack(out).astype(np.float32) if out else np.zeros((0, window), np.float32)
