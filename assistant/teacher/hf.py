"""Labelling backend: ``transformers``' ``WhisperForConditionalGeneration`` weights on torch.

The forward passes are written here over the module's weights rather than through ``generate``:
the encoder takes a shortened window (transformers insists on 3000 frames), and the decoder scores
every candidate phrase against one cross-attention key/value cache per clip (the candidates' queries
are flattened into one sequence per clip, which cross-attention allows since it has no mask).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .base import WhisperTeacher
from .posterior import Calibration
from .scoring import ScoringPlan, build_vocab

log = logging.getLogger(__name__)


class HFTeacher(WhisperTeacher):
    """Whisper on torch; uses a GPU when one is present."""

    backend = "transformers"

    def __init__(self, name: str, hf_dir: Path, calibration: Calibration, min_seconds: float,
                 device: str | None = None, threads: int | None = None) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import WhisperForConditionalGeneration
        from transformers.utils import logging as hf_logging

        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            model = WhisperForConditionalGeneration.from_pretrained(
                str(hf_dir), dtype=torch.float32, local_files_only=True)
        except Exception as e:
            raise ModelError(f"{hf_dir}: cannot load the Whisper checkpoint ({e}); delete it to rebuild") from e
        self.model = model.eval().to(self.device)
        cfg = model.config
        tokenizer = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
        gen = model.generation_config
        vocab = build_vocab(tokenizer, cfg.vocab_size, list(getattr(gen, "suppress_tokens", None) or []),
                            list(getattr(gen, "begin_suppress_tokens", None) or []))
        self.heads = cfg.encoder_attention_heads
        key = (hf_dir / "SHA256SUMS").read_text() if (hf_dir / "SHA256SUMS").is_file() else str(hf_dir)
        super().__init__(name, key, vocab, tokenizer, cfg.num_mel_bins, calibration, min_seconds)

    # -- building blocks ------------------------------------------------------------------------
    def _split(self, x):  # (B, T, D) -> (B, H, T, Dh)
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)

    @staticmethod
    def _merge(x):  # (B, H, T, Dh) -> (B, T, D)
        b, h, t, dh = x.shape
        return x.transpose(1, 2).reshape(b, t, h * dh)

    def _attend(self, attn, x, kv=None, causal: bool = False):
        import torch.nn.functional as F

        q = self._split(attn.q_proj(x))
        if kv is None:
            k, v = self._split(attn.k_proj(x)), self._split(attn.v_proj(x))
        else:
            k, v = kv
        return attn.out_proj(self._merge(F.scaled_dot_product_attention(q, k, v, is_causal=causal)))

    @staticmethod
    def _ffn(layer, x):
        import torch.nn.functional as F

        return layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))

    # -- backend hooks --------------------------------------------------------------------------
    def _encode(self, mels: np.ndarray) -> Any:
        """Encoder over any even number of frames <= 3000; returns per-layer cross-attention K/V."""
        import torch
        import torch.nn.functional as F

        enc = self.model.model.encoder
        with torch.inference_mode():
            x = torch.from_numpy(mels).to(self.device)
            x = F.gelu(enc.conv2(F.gelu(enc.conv1(x)))).transpose(1, 2)  # (B, T, D)
            x = x + enc.embed_positions.weight[: x.shape[1]]
            for layer in enc.layers:
                x = x + self._attend(layer.self_attn, layer.self_attn_layer_norm(x))
                x = x + self._ffn(layer, x)
            x = enc.layer_norm(x)
            return [(self._split(l.encoder_attn.k_proj(x)), self._split(l.encoder_attn.v_proj(x)))
                    for l in self.model.model.decoder.layers]

    def _decode(self, tokens, cross_kv):
        """Decoder hidden states: tokens (B, K, L) -> (B, K, L, D); K sequences share one clip's K/V."""
        dec = self.model.model.decoder
        b, k, length = tokens.shape
        x = dec.embed_tokens(tokens) + dec.embed_positions.weight[:length]
        x = x.view(b * k, length, -1)
        for layer, (ck, cv) in zip(dec.layers, cross_kv):
            x = x + self._attend(layer.self_attn, layer.self_attn_layer_norm(x), causal=True)
            q = layer.encoder_attn_layer_norm(x).reshape(b, k * length, -1)  # one long query per clip
            x = x + self._attend(layer.encoder_attn, q, kv=(ck, cv)).view(b * k, length, -1)
            x = x + self._ffn(layer, x)
        return dec.layer_norm(x).view(b, k, length, -1)

    def _logits(self, hidden):
        return hidden @ self.model.model.decoder.embed_tokens.weight.T

    def _gather(self, encoded: Any, plan: ScoringPlan) -> np.ndarray:
        import torch

        with torch.inference_mode():
            seqs = plan.sequences
            pad = np.full((len(seqs), plan.max_len), self.vocab.eot, dtype=np.int64)
            for i, s in enumerate(seqs):
                pad[i, : len(s)] = s  # right padding never reaches earlier positions (causal)
            b = encoded[0][0].shape[0]
            tokens = torch.from_numpy(pad).to(self.device).expand(b, -1, -1)
            hidden = self._decode(tokens, encoded)  # (B, S, L, D)
            node_seq = torch.tensor([n[0] for n in plan.nodes], device=self.device)
            node_pos = torch.tensor([n[1] for n in plan.nodes], device=self.device)
            logp = torch.log_softmax(self._logits(hidden[:, node_seq, node_pos]).float(), dim=-1)  # (B, N, V)
            pairs = logp[:, torch.from_numpy(plan.pair_node), torch.from_numpy(plan.pair_token)]
            return pairs.cpu().numpy()

    def _prefix_logits(self, encoded: Any, prefix: list[int]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            b = encoded[0][0].shape[0]
            tokens = torch.tensor(prefix, device=self.device).expand(b, 1, -1)
            return self._logits(self._decode(tokens, encoded)[:, 0, -1]).float().cpu().numpy()

    def next_logprobs(self, encoded: Any, prefixes: list[list[int]]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tokens = torch.tensor(prefixes, device=self.device)[None]  # (1, K, L): one clip, K hypotheses
            logits = self._logits(self._decode(tokens, encoded)[0, :, -1]).float()
            return torch.log_softmax(logits, dim=-1).cpu().numpy()

    def sequence_logprob(self, encoded: Any, prompt: list[int], tokens: list[int]) -> float:
        import torch

        if not tokens:
            return 0.0
        with torch.inference_mode():
            seq = torch.tensor(prompt + tokens[:-1], device=self.device)[None, None]
            logp = torch.log_softmax(self._logits(self._decode(seq, encoded)[0, 0]).float(), dim=-1)
            n = len(prompt)
            picked = logp[n - 1:, :].gather(1, torch.tensor(tokens, device=self.device)[:, None])
            return float(picked.sum())

    def _greedy(self, encoded: Any, max_tokens: int) -> tuple[list[list[int]], np.ndarray]:
        import torch

        with torch.inference_mode():
            b = encoded[0][0].shape[0]
            prompt = torch.tensor(self.vocab.prompt, device=self.device)
            seq = prompt.expand(b, -1).clone()
            suppress = torch.tensor(self.vocab.suppress, device=self.device)
            begin = torch.tensor(self.vocab.begin_suppress, device=self.device)
            done = torch.zeros(b, dtype=torch.bool, device=self.device)
            no_speech = None
            for step in range(max_tokens):
                # No KV cache: command transcripts are a handful of tokens, so recomputing is cheap.
                hidden = self._decode(seq[:, None, :], encoded)[:, 0]  # (B, L, D)
                if step == 0:
                    first = torch.softmax(self._logits(hidden[:, 0]).float(), dim=-1)
                    no_speech = first[:, self.vocab.no_speech].cpu().numpy()
                logits = self._logits(hidden[:, -1]).float()
                logits[:, suppress] = -float("inf")
                if step == 0:
                    logits[:, begin] = -float("inf")
                nxt = torch.where(done, torch.full_like(done, self.vocab.eot, dtype=torch.long),
                                  logits.argmax(-1))
                seq = torch.cat([seq, nxt[:, None]], dim=1)
                done |= nxt == self.vocab.eot
                if bool(done.all()) or seq.shape[1] >= self.model.config.max_target_positions:
                    break
            n = len(self.vocab.prompt)
            out = []
            for row in seq[:, n:].tolist():
                out.append(row[: row.index(self.vocab.eot)] if self.vocab.eot in row else row)
            assert no_speech is not None
            return out, no_speech
