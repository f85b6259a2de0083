"""Fast CPU backend: CTranslate2 (faster-whisper's engine) on the bundled weights."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import WhisperTeacher
from .posterior import Calibration
from .scoring import ScoringPlan, build_vocab

log = logging.getLogger(__name__)


class CT2Teacher(WhisperTeacher):
    """Whisper in CTranslate2; ``compute_type`` float32 for parity, int8 for speed."""

    backend = "ctranslate2"
    whole_phrase = False  # CTranslate2 exposes full-vocabulary logits only right after the prompt

    def __init__(self, name: str, ct2_dir: Path, calibration: Calibration, min_seconds: float,
                 threads: int | None = None, compute_type: str = "float32") -> None:
        import ctranslate2
        from tokenizers import Tokenizer

        try:
            self.model = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type=compute_type,
                                                    intra_threads=threads or min(4, os.cpu_count() or 1))
        except Exception as e:
            raise ModelError(f"{ct2_dir}: cannot load the CTranslate2 Whisper model ({e})") from e
        cfg = json.loads((ct2_dir / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(ct2_dir / "tokenizer.json"))
        vocab_size = 51865 if self.model.is_multilingual else 51864
        self.model_vocab = vocab_size
        vocab = build_vocab(tokenizer, vocab_size, cfg.get("suppress_ids"), cfg.get("suppress_ids_begin"))
        self.compute_type = compute_type
        stat = (ct2_dir / "model.bin").stat()
        key = f"{ct2_dir.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{compute_type}"
        super().__init__(name, key, vocab, tokenizer, self.model.n_mels, calibration, min_seconds)

    def _encode(self, mels: np.ndarray) -> Any:
        import ctranslate2

        return self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mels)), to_cpu=True)

    def _prefix_logits(self, encoded: Any, prefix: list[int]) -> np.ndarray:
        return self._raw_logits(encoded, [prefix])[:, 0]

    def _raw_logits(self, encoded: Any, prompts: list[list[int]]) -> np.ndarray:
        """Next-token logits after each prompt, for every clip: shape (B, len(prompts), V)."""
        import ctranslate2

        enc = np.asarray(encoded)
        b = enc.shape[0]
        out: np.ndarray | None = None
        by_len: dict[int, list[int]] = {}
        for j, p in enumerate(prompts):  # CTranslate2 wants one prompt length per call
            by_len.setdefault(len(p), []).append(j)
        for length, idx in by_len.items():
            # CTranslate2 pairs prompts with batch rows, so each clip's encoding is repeated per prompt.
            rep = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(enc, len(idx), axis=0)))
            results = self.model.generate(rep, [prompts[j] for _ in range(b) for j in idx], beam_size=1,
                                          max_length=length + 1, return_logits_vocab=True,
                                          suppress_blank=False, suppress_tokens=[])
            logits = np.stack([np.asarray(r.logits[0][0] if isinstance(r.logits[0], list) else r.logits[0])
                               for r in results]).astype(np.float64).reshape(b, len(idx), -1)
            if out is None:
                out = np.empty((b, len(prompts), logits.shape[-1]))
            out[:, idx] = logits
        assert out is not None
        return out

    def _gather(self, encoded: Any, plan: ScoringPlan) -> np.ndarray:
        import ctranslate2

        prompts = [list(plan.sequences[s][: p + 1]) for s, p in plan.nodes]
        sot_only = [j for j, p in enumerate(prompts) if len(p) == 1]
        rest = [j for j in range(len(prompts)) if j not in sot_only]
        b = np.asarray(encoded).shape[0]
        logp = np.full((b, len(prompts), self.model_vocab), -np.inf)
        logits = self._raw_logits(encoded, [prompts[j] for j in rest])  # first-token plans: prompt-level nodes
        m = logits.max(axis=-1, keepdims=True)
        logp[:, rest] = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
        if sot_only:  # CTranslate2 forces the token after <|startoftranscript|>; ask for P(no speech) instead
            enc = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)))
            res = self.model.generate(enc, [list(self.vocab.prompt)] * b, beam_size=1,
                                      max_length=len(self.vocab.prompt) + 1, return_no_speech_prob=True)
            for j in sot_only:
                logp[:, j, self.vocab.no_speech] = np.log(np.maximum([r.no_speech_prob for r in res], 1e-30))
        return logp[:, plan.pair_node, plan.pair_token]

    def _greedy(self, encoded: Any, max_tokens: int) -> tuple[list[list[int]], np.ndarray]:
        import ctranslate2

        enc = np.asarray(encoded)
        results = self.model.generate(ctranslate2.StorageView.from_array(np.ascontiguousarray(enc)),
                                      [list(self.vocab.prompt)] * enc.shape[0], beam_size=1,
                                      max_length=max_tokens, return_no_speech_prob=True)
        tokens = [list(r.sequences_ids[0]) for r in results]
        return tokens, np.array([r.no_speech_prob for r in results])
