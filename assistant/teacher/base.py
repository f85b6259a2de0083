"""The teacher interface, and the Whisper logic shared by both backends."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import AudioError
from ..labelset import LabelSet
from .features import FRAMES_PER_SECOND, MAX_FRAMES, log_mel, window_frames
from .posterior import Calibration, log_posterior, rms_db
from .scoring import ScoringPlan, Vocab, build_plan

log = logging.getLogger(__name__)

SCORING_VERSION = 1  # bump when scoring changes in a way that invalidates cached labels
MAX_TRANSCRIPT_TOKENS = 224
NOISE_PROB = 0.5
""":meth:`Teacher.hear` drops the transcript of a segment whose ``_silence_`` posterior reaches this: deferred
spoken words score well below it, the kitchen noise Whisper transcribes as "Okay." above (docs/loop.md)."""


@lru_cache(maxsize=1)
def _noise_check_labels() -> LabelSet:
    """The label set whose ``_silence_`` posterior :meth:`Teacher.hear` reads."""
    from ..labelset import load_labelset

    return load_labelset("speech_commands")


def max_tokens(n_samples: int) -> int:
    """Greedy-decoding budget: speech runs ~3 tokens/s, so this bounds repetition loops, not speech."""
    return min(MAX_TRANSCRIPT_TOKENS, 12 + int(12 * n_samples / SAMPLE_RATE))


@dataclass(frozen=True)
class Transcript:
    """What the teacher heard."""

    text: str
    no_speech_prob: float
    """Whisper's probability of ``<|nocaptions|>`` after the start token."""
    seconds: float
    """Compute time spent on this clip (s)."""
    noise_prob: float | None = None
    """The teacher's posterior of ``_silence_`` (no speech) when :meth:`Teacher.hear` checked the clip."""
    labels: dict[str, float] | None = None
    """:meth:`Teacher.hear`: the teacher's whole posterior over the Speech Commands labels (the loop
    falls back on it when the transcript names no intent; ``DecisionConfig.posterior_teacher``)."""
    intent: dict | None = None
    """``{"intent", "slots"}`` when the request was decoded under the intent grammar and is in it
    (:mod:`assistant.understand`); ``text`` is then the sentence the grammar allowed."""

    def to_dict(self) -> dict:
        """JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class TeacherLabel:
    """The teacher's answer for one clip: soft labels over a label set plus its transcript."""

    labels: tuple[str, ...]
    log_probs: np.ndarray
    """(len(labels),) log-probabilities; ``exp`` sums to 1."""
    transcript: Transcript
    seconds: float
    """Compute time spent on this clip, scoring and transcription (s)."""
    raw: dict
    """Uncalibrated inputs of the posterior: command ``scores``, ``nonspeech`` and ``level_db``."""

    @property
    def probs(self) -> np.ndarray:
        """Soft labels: shape (len(labels),), sums to 1."""
        return np.exp(self.log_probs)

    @property
    def top(self) -> str:
        """The most probable label."""
        return self.labels[int(np.argmax(self.log_probs))]


class Teacher(ABC):
    """A speech model that transcribes and scores label sets. Inputs are 16 kHz mono float32 arrays."""

    name: str
    backend: str
    whole_phrase: bool = True
    """Score whole phrases (True) or only their first token (False)."""

    @property
    @abstractmethod
    def id(self) -> str:
        """Identity of model + backend + scoring settings (part of every label-cache key)."""

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Free transcription of one clip."""

    def hear(self, audio: np.ndarray) -> Transcript:
        """What was said in a segment the student deferred: its transcript, or an empty one when the
        teacher's own posterior over the Speech Commands label set calls it noise (``_silence_`` >=
        :data:`NOISE_PROB`): Whisper alone hears "Okay." in kitchen noise. One encoder pass for both;
        segments over 30 s are only transcribed."""
        return self.hear_batch([audio])[0]

    def hear_batch(self, audios: Sequence[np.ndarray]) -> list[Transcript]:
        """:meth:`hear` for several segments at once (a server's queued utterances): segments of one
        window length share an encoder pass (:meth:`label_batch`)."""
        arrs = [np.asarray(a, dtype=np.float32) for a in audios]
        out: list[Transcript | None] = [None] * len(arrs)
        limit = MAX_FRAMES * (SAMPLE_RATE // FRAMES_PER_SECOND)
        short = [i for i, a in enumerate(arrs) if not (a.ndim == 1 and a.size > limit)]
        for i in sorted(set(range(len(arrs))) - set(short)):
            out[i] = self.transcribe(arrs[i])
        if short:
            label_set = _noise_check_labels()
            silence = label_set.labels.index(label_set.silence)
            for i, lab in zip(short, self.label_batch([arrs[i] for i in short], label_set)):
                noise, t = float(lab.probs[silence]), lab.transcript
                out[i] = Transcript("" if noise >= NOISE_PROB else t.text, t.no_speech_prob, lab.seconds, noise,
                                    {k: float(p) for k, p in zip(label_set.labels, lab.probs)})
        return [t for t in out if t is not None]

    @abstractmethod
    def label_batch(self, audios: Sequence[np.ndarray], label_set: LabelSet, *,
                    with_transcript: bool = True) -> list[TeacherLabel]:
        """Soft labels (and transcripts, sharing the encoder pass) for a batch of clips."""

    def score(self, audio: np.ndarray, label_set: LabelSet) -> np.ndarray:
        """Log-probabilities over ``label_set.labels`` for one clip: shape (len(labels),)."""
        return self.label_batch([audio], label_set, with_transcript=False)[0].log_probs


class WhisperTeacher(Teacher):
    """Shared Whisper logic; a backend supplies encoding, gathered log-probs and greedy decoding."""

    def __init__(self, name: str, weights_key: str, vocab: Vocab, tokenizer: Any, n_mels: int,
                 calibration: Calibration, min_seconds: float) -> None:
        self.name = name
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.n_mels = n_mels
        self.calibration = calibration
        self.min_seconds = min_seconds
        self._weights_key = weights_key
        self._plan = lru_cache(maxsize=8)(self._build_plan)

    @property
    def id(self) -> str:
        body = json.dumps([self._weights_key, self.min_seconds, asdict(self.calibration), self.whole_phrase,
                           SCORING_VERSION])
        return f"whisper-{self.name}-{self.backend}-{hashlib.sha256(body.encode()).hexdigest()[:10]}"

    def _build_plan(self, label_set: LabelSet) -> ScoringPlan:
        return build_plan(label_set, self.vocab, lambda t: self.tokenizer.encode(t, add_special_tokens=False).ids,
                          whole_phrase=self.whole_phrase)

    # -- backend hooks -------------------------------------------------------------------------
    @abstractmethod
    def _encode(self, mels: np.ndarray) -> Any:
        """Encoder pass over (B, n_mels, frames) features."""

    @abstractmethod
    def _gather(self, encoded: Any, plan: ScoringPlan) -> np.ndarray:
        """Log-probabilities at the plan's (node, token) pairs: shape (B, P)."""

    @abstractmethod
    def _prefix_logits(self, encoded: Any, prefix: list[int]) -> np.ndarray:
        """Raw next-token logits after ``prefix`` for each clip: shape (B, vocab)."""

    @abstractmethod
    def _greedy(self, encoded: Any, max_tokens: int) -> tuple[list[list[int]], np.ndarray]:
        """Greedy transcription tokens per clip, and P(nocaptions) per clip."""

    # -- shared logic --------------------------------------------------------------------------
    def _check(self, audio: np.ndarray) -> np.ndarray:
        arr = np.asarray(audio, dtype=np.float32)
        if arr.ndim != 1 or arr.size == 0:
            raise AudioError(f"teacher input must be non-empty mono 16 kHz audio, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise AudioError("teacher input holds NaN or infinite samples; prepare audio with assistant.audio")
        if arr.size > MAX_FRAMES * (SAMPLE_RATE // FRAMES_PER_SECOND):
            raise AudioError(f"{arr.size / SAMPLE_RATE:.1f} s is too long to score (30 s at most); "
                             "split the audio")
        return arr

    def _decode_text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode([t for t in tokens if t < self.vocab.eot]).strip()

    def label_batch(self, audios: Sequence[np.ndarray], label_set: LabelSet, *,
                    with_transcript: bool = True) -> list[TeacherLabel]:
        clips = [self._check(a) for a in audios]
        plan = self._plan(label_set)
        out: list[TeacherLabel | None] = [None] * len(clips)
        groups: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):  # one encoder length per group
            groups.setdefault(window_frames(clip.size, self.min_seconds), []).append(i)
        for frames, idx in groups.items():
            start = time.perf_counter()
            mels = np.stack([log_mel(clips[i], frames, self.n_mels) for i in idx])
            encoded = self._encode(mels)
            scores, nonspeech, no_speech = plan.combine(self._gather(encoded, plan))
            levels = np.array([rms_db(clips[i]) for i in idx])
            logp = log_posterior(scores, nonspeech, levels, label_set, self.calibration)
            mid = time.perf_counter()
            if with_transcript:
                tokens, no_speech = self._greedy(encoded, max_tokens(max(clips[i].size for i in idx)))
                texts = [self._decode_text(t) for t in tokens]
            else:
                texts = [""] * len(idx)
            end = time.perf_counter()
            per_clip, per_text = (end - start) / len(idx), (end - mid) / len(idx)
            for j, i in enumerate(idx):
                raw = {"scores": [round(float(x), 4) for x in scores[j]],
                       "nonspeech": round(float(nonspeech[j]), 4), "level_db": round(float(levels[j]), 2)}
                out[i] = TeacherLabel(label_set.labels, logp[j],
                                      Transcript(texts[j], float(no_speech[j]), per_text), per_clip, raw)
        return [o for o in out if o is not None]

    # -- grammar decoding hooks (assistant.teacher.constrained) -----------------------------------
    def next_logprobs(self, encoded: Any, prefixes: list[list[int]]) -> np.ndarray:
        """Log-softmax of the next token after each prefix, for one encoded clip: shape (K, vocab).
        Prefixes of one beam step share a length. Backends may override this with a batched pass."""
        logits = np.asarray(self._raw_logits(encoded, prefixes), dtype=np.float64)[0]  # type: ignore[attr-defined]
        m = logits.max(axis=-1, keepdims=True)
        return logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))

    def sequence_logprob(self, encoded: Any, prompt: list[int], tokens: list[int]) -> float:
        """log P(tokens | prompt, clip): the sum of each token's log-probability (nats)."""
        total = 0.0
        for i, tok in enumerate(tokens):
            total += float(self.next_logprobs(encoded, [prompt + tokens[:i]])[0, tok])
        return total

    def tokenizer_encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def punctuation_ids(self) -> dict[int, str]:
        """Ids of the single tokens ``,`` ``.`` ``?`` ``!`` (what may follow a word in grammar decoding)."""
        from ..intents.grammar import PUNCTUATION

        out = {}
        for p in PUNCTUATION:
            ids = self.tokenizer_encode(p)
            if len(ids) == 1:
                out[ids[0]] = p
        return out

    def next_token_logits(self, audio: np.ndarray, prefix: Sequence[int] | None = None) -> np.ndarray:
        """Raw decoder logits after ``prefix`` (default: the prompt) for one clip: shape (vocab,)."""
        clip = self._check(audio)
        mels = log_mel(clip, window_frames(clip.size, self.min_seconds), self.n_mels)[None]
        return self._prefix_logits(self._encode(mels), list(prefix or self.vocab.prompt))[0]

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Greedy transcription, 30 s windows in sequence for longer audio."""
        arr = np.asarray(audio, dtype=np.float32)
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
            raise AudioError("teacher input must be non-empty, finite, mono 16 kHz audio")
        start = time.perf_counter()
        step = MAX_FRAMES * (SAMPLE_RATE // FRAMES_PER_SECOND)
        texts, no_speech = [], []
        for off in range(0, arr.size, step):
            chunk = arr[off:off + step]
            frames = window_frames(chunk.size, self.min_seconds)
            tokens, ns = self._greedy(self._encode(log_mel(chunk, frames, self.n_mels)[None]),
                                      max_tokens(chunk.size))
            texts.append(self._decode_text(tokens[0]))
            no_speech.append(float(ns[0]))
        return Transcript(" ".join(t for t in texts if t), min(no_speech), time.perf_counter() - start)
