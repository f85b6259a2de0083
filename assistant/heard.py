"""Short deferred segments and what the teacher heard in them, kept on the device (``--keep-heard``).

A word added from text alone misses many real voices, and those are exactly the moments the student
defers: the teacher then hears the word. Kept, these segments are real recordings of the word in the
household's own voices, labelled by the teacher and nobody else, which ``training add-intent`` learns as
positives the next time the word is learnt. Off unless asked for; nothing leaves the machine.

Layout: ``<folder>/<stamp>-<n>.flac`` (16 kHz mono, 16-bit) and one line of ``heard.jsonl`` per clip:
``{"file": "<name>.flac", "transcript": "...", "time": "<ISO 8601>"}``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .audio import SAMPLE_RATE
from .errors import AssistantError

KEEP_MAX_S = 3.0
"""Longest segment kept (pre-roll included): a word or a short phrase, not a request or a conversation."""
KEEP_MIN_S = 0.2
INDEX = "heard.jsonl"


def heard_root() -> Path:
    """Default home of kept segments: ``~/.local/share/voice-assistant/heard``."""
    from .registry import data_home

    return data_home() / "heard"


class HeardStore:
    """Appends kept segments to a folder; a full or read-only disk costs the clip, never the loop."""

    def __init__(self, folder: str | Path, on_error: Callable[[str], None] | None = None) -> None:
        """``on_error`` hears the first write error (e.g. the loop prints it); later ones cost their clip quietly."""
        self.folder = Path(folder)
        self.on_error = on_error
        try:  # now, so that an unwritable place is reported before anyone speaks
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AssistantError(f"cannot keep heard segments in {self.folder} ({e.strerror}); "
                                 "choose another place with --keep-heard DIR") from e
        self.lock = threading.Lock()
        self.kept = 0
        self._n = 0
        self.failed: str | None = None
        """The first write error."""

    def keep(self, audio: np.ndarray, transcript: str) -> Path | None:
        """Write ``audio`` (float32 mono at 16 kHz) if it is a short segment with a transcript; its path."""
        import soundfile as sf

        text = " ".join(transcript.split())
        seconds = audio.size / SAMPLE_RATE
        if not text or not KEEP_MIN_S <= seconds <= KEEP_MAX_S or not np.all(np.isfinite(audio)):
            return None
        with self.lock:
            while True:  # another run in the same second may have used the name: never overwrite
                self._n += 1
                path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{self._n:04d}.flac"
                if not path.exists():
                    break
            try:
                sf.write(path, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
                line = {"file": path.name, "transcript": text, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                with open(self.folder / INDEX, "a", encoding="utf-8") as f:
                    f.write(json.dumps(line) + "\n")
            except (OSError, RuntimeError) as e:  # soundfile's errors are RuntimeErrors (e.g. a full disk)
                path.unlink(missing_ok=True)
                why = getattr(e, "strerror", None) or str(e).strip() or type(e).__name__
                if self.failed is None:
                    self.failed = f"cannot keep heard segments in {self.folder} ({why})"
                    if self.on_error is not None:
                        self.on_error(self.failed)
                return None
            self.kept += 1
        return path


def read_heard(folder: str | Path) -> list[tuple[Path, str]]:
    """(clip path, transcript) of every kept segment whose file is still there, oldest first; a broken
    line of the index (a kill mid-write) is skipped."""
    index = Path(folder) / INDEX
    if not index.is_file():
        return []
    out: list[tuple[Path, str]] = []
    for raw in index.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            line = json.loads(raw)
            path, text = Path(folder) / str(line["file"]), str(line["transcript"])
        except (ValueError, KeyError, TypeError):
            continue
        if path.is_file() and path.parent == Path(folder):
            out.append((path, text))
    return out
