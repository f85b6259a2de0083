"""Label sets are data: a YAML file naming each label and the phrase(s) a speaker says for it.

Example (quote every word: YAML reads bare ``yes``/``no``/``on``/``off`` as booleans)::

    name: speech_commands_12
    labels:
      "yes": ["yes"]
      "seven": ["seven", "7"]
    unknown: _unknown_   # out-of-set speech (optional)
    silence: _silence_   # no speech (optional)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import LabelSetError

BUILTIN = ("speech_commands", "digits")
MAX_NESTING = 100
"""Deepest ``[``/``{`` nesting a YAML file may have (real files need a handful)."""


@dataclass(frozen=True)
class LabelSet:
    """Commands with their phrases, plus the optional out-of-set and no-speech labels."""

    name: str
    commands: tuple[str, ...]
    """Command labels in file order."""
    phrases: tuple[tuple[str, ...], ...]
    """``phrases[i]`` are the spoken forms of ``commands[i]``."""
    unknown: str | None = "_unknown_"
    """Label for speech that is none of the commands (None: closed set)."""
    silence: str | None = "_silence_"
    """Label for no speech at all (None: every clip holds speech)."""

    @property
    def labels(self) -> tuple[str, ...]:
        """All labels in output order: commands, then unknown, then silence."""
        return self.commands + tuple(x for x in (self.unknown, self.silence) if x)

    @property
    def id(self) -> str:
        """Content id (12 hex): changes whenever labels or phrases change, not with the file's layout."""
        body = json.dumps([self.commands, self.phrases, self.unknown, self.silence], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        """The YAML/JSON form this set loads from."""
        return {"name": self.name, "labels": {c: list(p) for c, p in zip(self.commands, self.phrases)},
                "unknown": self.unknown, "silence": self.silence}

    @classmethod
    def from_dict(cls, data: object, *, source: str = "label set") -> LabelSet:
        """Validate a parsed YAML/JSON mapping; raises :class:`LabelSetError` with one clear line."""
        if not isinstance(data, dict) or not isinstance(data.get("labels"), dict) or not data["labels"]:
            raise LabelSetError(f"{source}: expected a mapping with a non-empty 'labels:' mapping "
                                "(label: [phrases])")
        commands, phrases = [], []
        for label, forms in data["labels"].items():
            if not isinstance(label, str):
                raise LabelSetError(f"{source}: label {label!r} is not text; quote it (YAML reads bare "
                                    "yes/no/on/off as booleans)")
            if isinstance(forms, str):
                forms = [forms]
            if not isinstance(forms, list) or not forms or not all(isinstance(f, str) and f.strip()
                                                                    for f in forms):
                raise LabelSetError(f"{source}: label {label!r} needs a list of quoted, non-empty phrases")
            commands.append(label)
            phrases.append(tuple(f.strip() for f in forms))
        specials = {}
        for key, default in (("unknown", "_unknown_"), ("silence", "_silence_")):
            value = data.get(key, default)
            if value is not None and not isinstance(value, str):
                raise LabelSetError(f"{source}: '{key}:' must be a label name or null")
            specials[key] = value
        every = commands + [v for v in specials.values() if v]
        if len(set(every)) != len(every):
            raise LabelSetError(f"{source}: label names must be unique, got {every}")
        return cls(name=str(data.get("name") or Path(source).stem), commands=tuple(commands),
                   phrases=tuple(phrases), **specials)


def read_yaml(name_or_path: str | Path, package: str, builtins: tuple[str, ...], what: str) -> tuple[object, str]:
    """Parse a built-in YAML file of ``package`` by name, or any YAML file by path: (data, source).

    Raises :class:`LabelSetError` with one line for a missing file or broken YAML.
    """
    import yaml

    if str(name_or_path) in builtins:
        text = resources.files(package).joinpath(f"{name_or_path}.yaml").read_text()
        source = f"built-in {what} {name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise LabelSetError(f"{path}: no such {what} file (built-in: {', '.join(builtins)})")
        text, source = path.read_text(encoding="utf-8", errors="replace"), str(path)
    depth = deepest = 0
    for bracket in re.sub(r"[^\[\]{}]+", "", text):  # PyYAML's scanner slows down quadratically with nesting
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    if deepest > MAX_NESTING:
        raise LabelSetError(f"{source}: not valid YAML (brackets nested over {MAX_NESTING} deep); fix the file")
    try:
        return yaml.safe_load(text), source
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else "syntax error"
        raise LabelSetError(f"{source}: not valid YAML ({first}); fix the file") from e
    except RecursionError as e:
        raise LabelSetError(f"{source}: not valid YAML (nested too deeply); fix the file") from e
    except Exception as e:  # PyYAML's constructors, on a value that looks like a date or number (or is tagged
        detail = " ".join(str(e).split()) or type(e).__name__  # one) but is none: 2001-13-01, !!float abc
        raise LabelSetError(f"{source}: not valid YAML (a value cannot be read: {detail}); quote it") from e


def load_labelset(name_or_path: str | Path = "speech_commands") -> LabelSet:
    """Load a built-in label set by name, or any YAML/JSON file by path."""
    data, source = read_yaml(name_or_path, "assistant.labelsets", BUILTIN, "label-set")
    return LabelSet.from_dict(data, source=source)
