"""Intents are data: Home Assistant sentence templates (hassil) plus a student-label -> intent table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabelSetError

DEFAULT = "home"


@dataclass(frozen=True)
class IntentMatch:
    """A recognised intent with its slot values."""

    intent: str
    slots: dict = field(default_factory=dict)


class IntentSet:
    """Recognise intents from student labels (instant) and from teacher transcripts (hassil)."""

    def __init__(self, data: dict, source: str) -> None:
        from hassil import Intents

        if not isinstance(data, dict) or not isinstance(data.get("intents"), dict):
            raise LabelSetError(f"{source}: expected Home Assistant intents YAML with an 'intents:' mapping")
        try:
            self.hassil = Intents.from_dict({k: v for k, v in data.items() if k != "student"})
        except Exception as e:  # hassil raises assorted parse errors
            raise LabelSetError(f"{source}: cannot parse the sentence templates ({e})") from e
        self.student: dict[str, IntentMatch] = {}
        for label, entry in (data.get("student") or {}).items():
            if not isinstance(label, str) or not isinstance(entry, dict) or "intent" not in entry:
                raise LabelSetError(f"{source}: student entry {label!r} needs 'intent:' (and quote the label)")
            self.student[label] = IntentMatch(str(entry["intent"]), dict(entry.get("slots") or {}))
        self.source = source

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT) -> IntentSet:
        """A built-in intents file by name (``home``), or any YAML file."""
        from ..labelset import read_yaml

        data, source = read_yaml(name_or_path, __name__, (DEFAULT,), "intents")
        return cls(data, source)

    def from_label(self, label: str) -> IntentMatch | None:
        """The intent a student label stands for."""
        return self.student.get(label)

    def from_text(self, text: str) -> IntentMatch | None:
        """hassil over a transcript (punctuation and case ignored)."""
        from hassil import recognize

        clean = re.sub(r"[^\w\s']", " ", text.lower()).strip()
        clean = re.sub(r"\s+", " ", clean)
        if not clean:
            return None
        if clean in self.student:  # a transcript that is just a command word means what the student label means
            return self.student[clean]
        result = recognize(clean, self.hassil)
        if result is None:
            return None
        return IntentMatch(result.intent.name, {k: v.value for k, v in result.entities.items()})
