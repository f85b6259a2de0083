"""Decoding under a grammar: beam search over Whisper's decoder where each step may only take tokens that
continue a sentence the intents can parse, and the out-of-grammar test that keeps it from forcing a match.

Scores are sums of log-probabilities under the full vocabulary, so the constrained sentence and the free
transcript are comparable: speech the grammar explains scores about as well constrained as free (an ASR
near-miss such as "light rose" costs a few nats), speech it cannot explain scores far worse. The test is
that gap per token of the constrained sentence (:data:`DEFAULT_MARGIN`, docs/intents/README.md).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from ..audio import SAMPLE_RATE
from ..intents import IntentMatch
from ..intents.grammar import Grammar
from .base import WhisperTeacher, max_tokens
from .features import log_mel, window_frames

DEFAULT_BEAM = 4
DEFAULT_MARGIN = 1.2
"""Out of grammar when the constrained sentence's log-probability per token falls this far (nats) below the
free transcript's. Speech the grammar cannot explain (LibriSpeech read speech, wake-word phrases) scores
1.9 or more below; real coffee orders at most 1.1 (docs/intents/README.md)."""
DEFAULT_FLOOR = -1.6
"""...and when it is below this mean log-probability per token (nats) at all: on noise Whisper hallucinates
("I'm going to go to the bathroom.") and the forced order scores about as badly, so the gap alone does not
tell; forced orders on noise average -2.6 or worse per token, real orders -0.1 to -0.8 (docs/intents/README.md)."""


def in_grammar(gap: float, mean_logprob: float, margin: float = DEFAULT_MARGIN, floor: float = DEFAULT_FLOOR) -> bool:
    """The out-of-grammar decision (pure): the best sentence the grammar allows must explain the audio
    nearly as well as free transcription does (``gap`` ≥ -``margin``) and well in itself (``mean_logprob``
    ≥ ``floor``); both in nats per token."""
    return gap >= -margin and mean_logprob >= floor


@dataclass(frozen=True)
class Understood:
    """What the teacher understood a request to be, under the grammar."""

    match: IntentMatch | None
    """The intent and slots; None when out of grammar (or the sentence parsed as nothing)."""
    sentence: str
    """The best sentence the grammar allows ("" when the grammar allows none for this audio)."""
    score: float
    """Its log-probability (nats, with end of text)."""
    free_text: str
    free_score: float
    """The free (greedy) transcript and its log-probability (nats, with end of text)."""
    gap: float
    """(score - free_score) per token of the sentence: 0 when the free transcript is in the grammar."""
    mean_logprob: float
    """score per token of the sentence (with end of text)."""
    parsed: IntentMatch | None
    seconds: float
    no_speech_prob: float = 0.0
    """Whisper's P(no speech) for the clip (its first token after start of transcript)."""
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    """Other finished sentences of the beam with their scores, best first."""

    @property
    def accepted(self) -> bool:
        return self.match is not None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["match"] = asdict(self.match) if self.match else None
        d["parsed"] = asdict(self.parsed) if self.parsed else None
        return d


def decode(teacher: WhisperTeacher, encoded, automaton, beam: int, limit: int
           ) -> tuple[list[tuple[float, list[int]]], tuple[float, list[int]]]:
    """Beam search under ``automaton`` and the free greedy transcript, in one batch of decoder passes (the
    free hypothesis rides along as one more row, so it costs one row, not a second decode).

    Returns the finished (score, tokens) under the grammar, best first, and the free (score, tokens), each
    score a log-probability with end of text. Stopping is exact: scores only fall as a sentence grows, so
    once the best finished sentence beats every live one no extension can win.
    """
    prompt = list(teacher.vocab.prompt)
    eot = teacher.vocab.eot
    punct = set(automaton.punct)
    suppress = np.asarray(teacher.vocab.suppress, dtype=np.int64)
    live: list[tuple[float, list[int], frozenset, bool]] = [(0.0, [], automaton.start, False)]
    finished: list[tuple[float, list[int]]] = []
    free: tuple[float, list[int]] = (0.0, [])
    free_done = False
    for step in range(limit):
        rows = [prompt + h[1] for h in live] + ([prompt + free[1]] if not free_done else [])
        lp = teacher.next_logprobs(encoded, rows)  # (K [+ 1], V)
        if not free_done:
            row = lp[-1].copy()
            row[suppress] = -np.inf
            if step == 0:
                row[list(teacher.vocab.begin_suppress)] = -np.inf
            tok = int(np.argmax(row))
            cap = limit if live else min(limit, 2 * len(finished[0][1] if finished else []) + 8)
            if tok == eot or len(free[1]) + 1 >= cap:  # a looping transcript stops soon after the beam
                free, free_done = (free[0] + float(lp[-1, eot]), free[1]), True
            else:
                free = (free[0] + float(lp[-1, tok]), free[1] + [tok])
        cands: list[tuple[float, list[int], frozenset, bool]] = []
        for k, (score, toks, state, after_punct) in enumerate(live):
            if automaton.can_end(state):
                finished.append((score + float(lp[k, eot]), toks))
            nxt = automaton.next_states(state, after_punct)
            if not nxt:
                continue
            ids = np.fromiter(nxt.keys(), dtype=np.int64, count=len(nxt))
            scores = score + lp[k, ids]
            top = np.argsort(-scores)[:beam]
            cands += [(float(scores[j]), toks + [int(ids[j])], nxt[int(ids[j])], int(ids[j]) in punct) for j in top]
        cands.sort(key=lambda c: -c[0])
        live = cands[:beam]
        best = max((f[0] for f in finished), default=-np.inf)
        if not live or best >= live[0][0]:
            live = []
            if free_done:
                break
    return sorted(finished, key=lambda f: -f[0]), free


def understand(teacher: WhisperTeacher, audio: np.ndarray, grammar: Grammar, *, beam: int = DEFAULT_BEAM,
               margin: float = DEFAULT_MARGIN, floor: float = DEFAULT_FLOOR) -> Understood:
    """The request in ``audio`` (16 kHz mono, ≤ 30 s) under ``grammar``, with the free transcript beside it."""
    start = time.perf_counter()
    clip = teacher._check(audio)
    mels = log_mel(clip, window_frames(clip.size, teacher.min_seconds), teacher.n_mels)[None]
    encoded = teacher._encode(mels)
    automaton = grammar.automaton(teacher.tokenizer_encode, teacher.punctuation_ids())
    found, (free_score, free) = decode(teacher, encoded, automaton, beam, max(48, max_tokens(clip.size)))
    first = teacher.next_logprobs(encoded, [list(teacher.vocab.sot_sequence)])[0]
    no_speech = float(np.exp(first[teacher.vocab.no_speech]))
    if not found:
        return Understood(None, "", -np.inf, teacher._decode_text(free), free_score, -np.inf, -np.inf, None,
                          time.perf_counter() - start, no_speech)
    score, tokens = found[0]
    sentence = teacher._decode_text(tokens)
    gap, mean = (score - free_score) / (len(tokens) + 1), score / (len(tokens) + 1)
    parsed = grammar.parse(sentence)
    match = parsed if in_grammar(gap, mean, margin, floor) else None
    alts = [(teacher._decode_text(t), round(s, 3)) for s, t in found[1:4]]
    return Understood(match, sentence, score, teacher._decode_text(free), free_score, gap, mean, parsed,
                      time.perf_counter() - start, no_speech, alts)
