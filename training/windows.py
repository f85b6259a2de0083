"""Stage 1a: one-second windows cut from longer recordings of speech that is no command.

Read speech and two-word phrases are what the student must learn to leave alone, but they come as 3-6 s
files while the student sees 1 s. Each file is cut into windows that hold speech; the windows are written
to disk (deterministic in file and settings, so a rerun finds them) and the teacher labels each one like
any other clip: a window of read speech may well hold "on" or "up", and then the teacher says so.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from assistant.audio import load_audio
from assistant.errors import AudioError

from .corpus import Clip
from .synth import save_flac

SPEECH_DB = -20.0
"""A window holds speech when its RMS is within this many dB of the file's loudest window: quieter ones
are pauses, which the noise examples already teach as ``_silence_``."""


def speech_windows(audio: np.ndarray, window: int, hop: int, most: int) -> list[np.ndarray]:
    """Up to ``most`` windows of ``window`` samples every ``hop`` samples (the loudest first, then in time
    order) whose RMS is within :data:`SPEECH_DB` of the loudest; ``audio`` (samples,) float32."""
    if len(audio) <= window:
        return [np.pad(audio, (0, window - len(audio)))]
    starts = list(range(0, len(audio) - window + 1, hop))
    rms = np.array([np.sqrt(np.mean(audio[s:s + window] ** 2) + 1e-12) for s in starts])
    db = 20 * np.log10(rms / rms.max())
    keep = [i for i in np.argsort(-db, kind="stable") if db[i] >= SPEECH_DB][:most]
    return [audio[starts[i]:starts[i] + window].astype(np.float32) for i in sorted(keep)]


def cut_windows(clips: list[Clip], window: int, hop: int, most: int, out_dir: Path,
                progress: bool = True) -> list[Clip]:
    """:func:`speech_windows` of every clip as FLAC files under ``out_dir``; each window keeps its file's
    speaker and dataset and has no folder label (nothing here is evaluated). Unreadable files are skipped."""
    from tqdm import tqdm

    out: list[Clip] = []
    for clip in tqdm(clips, desc="cutting windows", unit="file", disable=not progress, dynamic_ncols=True):
        key = hashlib.sha256(f"{clip.path.resolve()}|{window}|{hop}|{most}|{SPEECH_DB}".encode()).hexdigest()[:20]
        done = out_dir / key[:2] / f"{key}.n"
        if done.is_file():
            n = int(done.read_text())
        else:
            try:
                parts = speech_windows(load_audio(clip.path).samples, window, hop, most)
            except AudioError:
                continue
            for i, w in enumerate(parts):
                save_flac(out_dir / key[:2] / f"{key}-{i}.flac", w)
            n = len(parts)
            done.write_text(str(n))  # last: a kill mid-way rewrites the windows next time
        out.extend(Clip(out_dir / key[:2] / f"{key}-{i}.flac", clip.speaker, None, clip.dataset)
                   for i in range(n))
    return out
