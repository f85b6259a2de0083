"""Pure scoring logic: which decoder log-probabilities a label set needs, and how they combine.

A label's score is log P(phrase is the whole transcript | audio) under Whisper's decoder: the sum of
the phrase tokens' log-probabilities after ``<|startoftranscript|>…<|notimestamps|>``, plus the log of
the probability that the transcript ends there (end-of-text or closing punctuation). Spoken forms are
tried with a leading space and in lower/Capitalised case; a label takes the log-sum-exp of its forms.

The no-speech score is the log of the probability mass Whisper puts, as its first token, on non-speech
annotations ("(music)", "[BLANK_AUDIO]", "*", "♪").

With ``whole_phrase=False`` only each form's first token is scored (no end-of-transcript term): cheaper,
a little less accurate, and all that the CTranslate2 backend can read (it exposes full-vocabulary
logits only right after the prompt).

Candidates share prefixes, so the decoder only needs the log-softmax at the distinct prefixes (trie
nodes); :class:`ScoringPlan` lists them and the (node, token) pairs to read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..labelset import LabelSet

END_TEXTS = (".", "!", "?", "...")  # a transcript that ends with one of these still ends there
NONSPEECH_STARTS = ("(", "[", "*", "♪")


@dataclass(frozen=True)
class Vocab:
    """The special token ids and token texts a scorer needs from a Whisper tokenizer."""

    sot_sequence: tuple[int, ...]
    """Start of transcript (plus ``<|en|><|transcribe|>`` for multilingual models)."""
    no_timestamps: int
    eot: int
    no_speech: int
    end_tokens: tuple[int, ...]
    """Tokens that may close a transcript: end-of-text and closing punctuation."""
    nonspeech_tokens: tuple[int, ...]
    """First tokens of non-speech annotations."""
    suppress: tuple[int, ...]
    """Tokens never emitted in free transcription (specials, timestamps, model's suppress list)."""
    begin_suppress: tuple[int, ...] = ()
    """Tokens not allowed as the first token of a transcript (blank, end-of-text)."""

    @property
    def prompt(self) -> tuple[int, ...]:
        """Decoder prefix before the first text token."""
        return self.sot_sequence + (self.no_timestamps,)


def build_vocab(tokenizer, vocab_size: int, suppress_ids: list[int] | None = None,
                begin_suppress_ids: list[int] | None = None) -> Vocab:
    """Derive :class:`Vocab` from a ``tokenizers.Tokenizer`` loaded from Whisper's tokenizer.json."""
    english = vocab_size == 51864
    tid = tokenizer.token_to_id
    eot, sot = tid("<|endoftext|>"), tid("<|startoftranscript|>")
    sot_seq = (sot,) if english else (sot, tid("<|en|>"), tid("<|transcribe|>"))
    no_ts = tid("<|notimestamps|>")
    no_speech = tid("<|nocaptions|>") if tid("<|nocaptions|>") is not None else tid("<|nospeech|>")
    if None in (eot, sot, no_ts, no_speech) or None in sot_seq:
        raise ValueError("tokenizer.json lacks Whisper's special tokens")
    end = [eot]
    for text in END_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if len(ids) == 1:
            end.append(ids[0])
    n_text = eot  # ids below end-of-text are text tokens
    nonspeech = [i for i in range(n_text)
                 if (t := tokenizer.decode([i]).lstrip()) and t.startswith(NONSPEECH_STARTS)]
    specials = list(range(eot + 1, vocab_size))
    suppress = sorted(set(specials) | {i for i in (suppress_ids or []) if 0 <= i < vocab_size})
    begin = tuple(begin_suppress_ids) if begin_suppress_ids else (tokenizer.token_to_id("Ġ") or 220, eot)
    return Vocab(sot_seq, no_ts, eot, no_speech, tuple(end), tuple(nonspeech), tuple(suppress), begin)


def spoken_forms(phrase: str) -> list[str]:
    """Transcript forms of one phrase: leading space, as written and Capitalised."""
    forms = [" " + phrase, " " + phrase[:1].upper() + phrase[1:], " " + phrase.lower()]
    return list(dict.fromkeys(forms))


@dataclass(frozen=True)
class ScoringPlan:
    """What to ask the decoder for one label set, and how to fold the answers into label scores."""

    commands: tuple[str, ...]
    sequences: tuple[tuple[int, ...], ...]
    """Decoder inputs (prompt + candidate tokens); every needed prefix is a prefix of one of them."""
    nodes: tuple[tuple[int, int], ...]
    """Each trie node as (sequence index, position whose output predicts the next token)."""
    pair_node: np.ndarray
    """(P,) node of each gathered log-probability."""
    pair_token: np.ndarray
    """(P,) token of each gathered log-probability."""
    token_pairs: tuple[tuple[int, ...], ...]
    """Per candidate: indices into the P pairs of its text tokens."""
    end_pairs: tuple[tuple[int, ...], ...]
    """Per candidate: indices of the pairs whose probabilities sum to 'the transcript ends here'."""
    candidate_label: np.ndarray
    """(C,) command index of each candidate."""
    nonspeech_pairs: tuple[int, ...]
    no_speech_pair: int

    @property
    def max_len(self) -> int:
        """Longest decoder input."""
        return max(len(s) for s in self.sequences)

    def combine(self, pair_logprobs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, P) gathered log-probs -> label scores (B, K), no-speech-annotation score (B,), P(nocaptions) (B,)."""
        lp = np.asarray(pair_logprobs, dtype=np.float64)
        cand = np.stack([lp[:, list(tp)].sum(axis=1) + (_logsumexp(lp[:, list(ep)], axis=1) if ep else 0.0)
                         for tp, ep in zip(self.token_pairs, self.end_pairs)], axis=1)  # (B, C)
        scores = np.full((lp.shape[0], len(self.commands)), -np.inf)
        for k in range(len(self.commands)):
            scores[:, k] = _logsumexp(cand[:, self.candidate_label == k], axis=1)
        nonspeech = _logsumexp(lp[:, list(self.nonspeech_pairs)], axis=1)
        return scores, nonspeech, np.exp(lp[:, self.no_speech_pair])


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def build_plan(label_set: LabelSet, vocab: Vocab, encode, whole_phrase: bool = True) -> ScoringPlan:
    """Plan the decoder queries for ``label_set``; ``encode(text) -> list[int]`` is the text tokenizer."""
    prompt = vocab.prompt
    cands: list[tuple[int, tuple[int, ...]]] = []
    for k, phrases in enumerate(label_set.phrases):
        seen: set[tuple[int, ...]] = set()
        for phrase in phrases:
            for form in spoken_forms(phrase):
                toks = tuple(encode(form))[: None if whole_phrase else 1]
                if toks and toks not in seen:
                    seen.add(toks)
                    cands.append((k, toks))
    # Distinct full sequences are the decoder inputs; every prefix of a candidate is a node.
    full = [prompt + toks for _, toks in cands]
    sequences = tuple(dict.fromkeys(full))
    node_of: dict[tuple[int, ...], int] = {}
    nodes: list[tuple[int, int]] = []

    def node(prefix: tuple[int, ...]) -> int:
        if prefix not in node_of:
            seq = next(i for i, s in enumerate(sequences) if s[:len(prefix)] == prefix)
            node_of[prefix] = len(nodes)
            nodes.append((seq, len(prefix) - 1))
        return node_of[prefix]

    pairs: dict[tuple[int, int], int] = {}

    def pair(n: int, tok: int) -> int:
        return pairs.setdefault((n, tok), len(pairs))

    root = node(prompt)
    nonspeech = tuple(pair(root, t) for t in vocab.nonspeech_tokens)
    sot_node = node(vocab.sot_sequence[:1])
    no_speech = pair(sot_node, vocab.no_speech)
    token_pairs, end_pairs = [], []
    for _, toks in cands:
        seq = prompt + toks
        token_pairs.append(tuple(pair(node(seq[:len(prompt) + i]), t) for i, t in enumerate(toks)))
        end_pairs.append(tuple(pair(node(seq), t) for t in vocab.end_tokens) if whole_phrase else ())
    keys = list(pairs)
    return ScoringPlan(
        commands=label_set.commands, sequences=sequences, nodes=tuple(nodes),
        pair_node=np.array([n for n, _ in keys], dtype=np.int64),
        pair_token=np.array([t for _, t in keys], dtype=np.int64),
        token_pairs=tuple(token_pairs), end_pairs=tuple(end_pairs),
        candidate_label=np.array([k for k, _ in cands], dtype=np.int64),
        nonspeech_pairs=nonspeech, no_speech_pair=no_speech,
    )
