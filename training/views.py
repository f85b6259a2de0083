"""Stage 1b: augmented copies of training clips, written to disk so the teacher can label them too.

A clean clip's soft label says what the word is; an augmented copy (noise at 3 dB, reverb, a shifted
cut) can hide it. Labelling the copy itself ("consistent teaching", Beyer et al. 2022) tells the
student how sure to be on audio like that. Copies are deterministic in (clip, index, seed), so a rerun
finds them on disk and the label cache has their labels: an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from assistant.audio import centre_on_energy, load_audio

from .augment import AugmentConfig, NoiseBank, augment
from .corpus import Clip
from .synth import save_flac


def augmented_views(clips: list[Clip], per_clip: int, window: int, noise: NoiseBank, out_dir: Path,
                    aug: AugmentConfig = AugmentConfig(), seed: int = 0, progress: bool = True) -> list[Clip]:
    """``per_clip`` augmented copies of each clip (cut to ``window`` samples) as FLAC files under ``out_dir``;
    each copy keeps its source's speaker (so speaker splits still hold) and dataset."""
    from tqdm import tqdm

    out: list[Clip] = []
    if per_clip <= 0:
        return out
    bar = tqdm(clips, desc="augmenting copies", unit="clip", disable=not progress, dynamic_ncols=True)
    for clip in bar:
        key = hashlib.sha256(f"{clip.path.resolve()}|{seed}|{window}|{aug}".encode()).hexdigest()[:20]
        paths = [out_dir / key[:2] / f"{key}-{i}.flac" for i in range(per_clip)]
        if not all(p.is_file() for p in paths):
            x = centre_on_energy(load_audio(clip.path).samples, window)
            rng = np.random.default_rng(int(key[:12], 16))
            for p in paths:
                y = augment(x, rng, noise, aug)
                if not p.is_file():
                    save_flac(p, y)
        out.extend(Clip(p, clip.speaker, None, clip.dataset) for p in paths)
    return out
