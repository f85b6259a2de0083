"""Intents are data: Home Assistant sentence templates (hassil) plus a student-label -> intent table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabelSetError

DEFAULT = "home-assistant"
BUILTIN = (DEFAULT, "home")
LIBRARY = "home-assistant-intents"
"""``library:`` value naming Home Assistant's sentence library (PyPI ``home-assistant-intents``)."""


@dataclass(frozen=True)
class IntentMatch:
    """A recognised intent with its slot values."""

    intent: str
    slots: dict = field(default_factory=dict)
    response: str | None = None
    """What to answer when no built-in handler knows ``intent`` (intents added with ``training add-intent``)."""


def _clean(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


class IntentSet:
    """Recognise intents from student labels (instant) and from teacher transcripts (hassil)."""

    def __init__(self, data: dict, source: str) -> None:
        from hassil import Intents

        from .rhino import is_rhino, to_intents

        if is_rhino(data):  # a Picovoice Rhino context: read it as the templates it stands for
            data = to_intents(data, source)
        self.data = data

        if not isinstance(data, dict) or not isinstance(data.get("intents", {} if data.get("library") else None),
                                                        dict):
            raise LabelSetError(f"{source}: expected Home Assistant intents YAML with an 'intents:' mapping")
        context = data.get("context") or {}
        if not isinstance(context, dict):
            raise LabelSetError(f"{source}: 'context:' must map keys to values (e.g. area: kitchen)")
        self.context: dict = dict(context)
        """hassil's intent context: where the assistant stands (``area``), for templates that need one."""
        skip = data.get("skip_words") or []
        if not isinstance(skip, list) or not all(isinstance(w, str) for w in skip):
            raise LabelSetError(f"{source}: 'skip_words:' must be a list of quoted words")
        if data.get("library"):
            with_library(data, source, check_only=True)  # the library is installed and has this language
        try:  # the file's own templates now (one clear line if broken); a library's when first needed
            own = Intents.from_dict({"intents": {}, **with_library({k: v for k, v in data.items()
                                                                     if k != "library"}, source)})
        except Exception as e:  # hassil raises assorted parse errors
            detail = f"no {e}" if isinstance(e, KeyError) else " ".join(str(e).split())
            raise LabelSetError(f"{source}: cannot parse the sentence templates ({detail})") from e
        if not data.get("library"):  # a library's own lists and rules are only there once it is merged in
            check_references(own, source)
        self._hassil = None if data.get("library") else own
        self.student: dict[str, IntentMatch] = {}
        if not isinstance(data.get("student") or {}, dict):
            raise LabelSetError(f"{source}: 'student:' must map student labels to {{intent: ..., slots: ...}}")
        for label, entry in (data.get("student") or {}).items():
            if not isinstance(label, str) or not isinstance(entry, dict) or "intent" not in entry or \
                    not isinstance(entry.get("slots") or {}, dict):
                raise LabelSetError(f"{source}: student entry {label!r} needs 'intent:' and optional 'slots:' "
                                    "mapping (and quote the label)")
            self.student[label] = IntentMatch(str(entry["intent"]), dict(entry.get("slots") or {}),
                                              entry.get("response"))
        self.responses = {m.intent: m.response for m in self.student.values() if m.response}
        self.source = source

    @property
    def hassil(self):
        """hassil's ``Intents`` of this set, the sentence library merged in (parsed on first use: Home
        Assistant's 865 templates take ~0.4 s, which a device answering from the student never needs)."""
        if self._hassil is None:
            from hassil import Intents

            merged = Intents.from_dict(with_library(self.data, self.source))
            check_references(merged, self.source)
            self._hassil = merged
        return self._hassil

    def with_student(self, added: dict | None) -> IntentSet:
        """These intents plus those a student's manifest carries (``{label: {intent, slots, response,
        phrases}}``, written by ``training add-intent``): its labels answer instantly, its phrases are
        sentences for the teacher path too."""
        if not added:
            return self
        import copy

        data = copy.deepcopy(self.data)
        data.setdefault("student", {})
        data.setdefault("intents", {})
        for label, entry in added.items():
            data["student"][label] = {k: entry[k] for k in ("intent", "slots", "response") if entry.get(k) is not None}
            block = {"sentences": list(entry.get("phrases") or [label])}
            if entry.get("slots"):
                block["slots"] = dict(entry["slots"])
            data["intents"].setdefault(entry["intent"], {"data": []})["data"].append(block)
        return IntentSet(data, f"{self.source} + student intents ({', '.join(added)})")

    def plus(self, others: list[IntentSet]) -> IntentSet:
        """These intents with more sets active beside them (``--intents home coffee.yaml``): the student's
        labels keep meaning what this set says; transcripts and the grammar cover every set."""
        self.others = list(others)
        return self

    @property
    def all_sets(self) -> list[IntentSet]:
        """This set and those :meth:`plus` added, in order."""
        return [self, *getattr(self, "others", [])]

    def grammar(self):
        """The :class:`~assistant.intents.grammar.Grammar` of every active set (compiled once)."""
        if getattr(self, "_grammar", None) is None:
            from .grammar import Grammar

            self._grammar = Grammar(self.all_sets)
        return self._grammar

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT) -> IntentSet:
        """A built-in intents file by name (``home``), or any YAML file."""
        from ..labelset import read_yaml

        data, source = read_yaml(name_or_path, __name__, BUILTIN, "intents")
        return cls(data, source)

    def from_label(self, label: str) -> IntentMatch | None:
        """The intent a student label stands for."""
        return self.student.get(label)

    def command_word(self, text: str) -> str | None:
        """The student label a transcript consists of (e.g. "On." -> "on"), else None. A word said over
        and over counts as the word: on a short clip Whisper often writes "down down down down ..." (26
        of the deferred command clips of the GSC calib and test speakers, every one of them right)."""
        words = _clean(text).split()
        return words[0] if words and len(set(words)) == 1 and words[0] in self.student else None

    def from_text(self, text: str) -> IntentMatch | None:
        """hassil over a transcript (punctuation and case ignored)."""
        clean = _clean(text)
        if not clean:
            return None
        if (word := self.command_word(clean)) is not None:  # just a command word: what the student label means
            return self.student[word]
        for s in self.all_sets:
            if (m := s.parse(clean)) is not None:
                return m
        return None

    def parse(self, text: str) -> IntentMatch | None:
        """hassil alone over ``text`` (no command-word shortcut): what grammar decoding reads back."""
        from hassil import recognize

        clean = _clean(text)
        if not clean:
            return None
        result = recognize(clean, self.hassil, intent_context=self.context or None)
        if result is None:
            return None
        name = result.intent.name
        return IntentMatch(name, {k: v.value for k, v in result.entities.items()}, self.responses.get(name))


def check_references(intents, source: str) -> None:
    """Refuse (one line) templates that name a slot list or expansion rule nothing defines, or a rule that
    contains itself: hassil would fail on the first transcript that reaches them, not at load."""
    from hassil.expression import Group, ListReference, RuleReference
    from hassil.intents import TextSlotList

    def walk(expr, lists: dict, rules: dict, path: tuple, done: set, where: str) -> None:
        if isinstance(expr, Group):
            for item in expr.items:
                walk(item, lists, rules, path, done, where)
        elif isinstance(expr, (RuleReference, ListReference)):
            is_rule = isinstance(expr, RuleReference)
            name = expr.rule_name if is_rule else expr.list_name
            shown = f"<{name}>" if is_rule else f"{{{name}}}"
            key = (is_rule, name)
            if key in path:
                raise LabelSetError(f"{source}: {where}: {shown} contains itself; break the cycle")
            if key in done:
                return
            if is_rule:
                if name not in rules:
                    raise LabelSetError(f"{source}: {where}: no expansion rule {shown}; define it under "
                                        "'expansion_rules:'")
                walk(rules[name].expression, lists, rules, path + (key,), done, where)
            elif name not in lists:
                if not (expr.is_inline_range and expr.get_inline_range() is not None):
                    raise LabelSetError(f"{source}: {where}: no slot list {shown}; define it under 'lists:'")
            elif isinstance(lists[name], TextSlotList):
                for value in lists[name].values:
                    walk(value.text_in, lists, rules, path + (key,), done, where)
            done.add(key)

    try:
        for name, intent in intents.intents.items():
            for data in intent.data:
                lists = {**intents.slot_lists, **data.slot_lists}
                rules = {**intents.expansion_rules, **data.expansion_rules}
                done: set = set()
                for text, sentence in zip(data.sentence_texts, data.sentences):
                    walk(sentence.expression, lists, rules, (), done, f"intent {name}, template {text!r}")
    except LabelSetError:
        raise
    except RecursionError as e:
        raise LabelSetError(f"{source}: the sentence templates nest too deeply; simplify them") from e
    except Exception as e:  # hassil parses each template on first use: assorted parse errors
        raise LabelSetError(f"{source}: cannot parse the sentence templates ({' '.join(str(e).split())})") from e


def with_library(data: dict, source: str, check_only: bool = False) -> dict:
    """The file's templates for hassil, merged over the sentence library it names (``library:``): the
    library's intents, lists, rules and skip words first, the file's own added (same intent: more data
    blocks; same list or rule: the file's wins). Returns a new dict; ``data`` is left as read."""
    own = {k: v for k, v in data.items() if k not in ("student", "library", "context")}
    name = data.get("library")
    if not name:
        return own
    if name != LIBRARY:
        raise LabelSetError(f"{source}: unknown sentence library {name!r} (known: {LIBRARY})")
    try:
        import home_assistant_intents
    except ImportError as e:
        raise LabelSetError(f"{source}: needs Home Assistant's sentences: pip install {LIBRARY}") from e
    language = str(data.get("language") or "en")
    if check_only:
        if language not in home_assistant_intents.get_languages():
            raise LabelSetError(f"{source}: {LIBRARY} has no sentences for language {language!r}")
        return own
    lib = home_assistant_intents.get_intents(language)
    if not lib:
        raise LabelSetError(f"{source}: {LIBRARY} has no sentences for language {language!r}")
    intents = {k: {"data": list(v.get("data") or [])} for k, v in (lib.get("intents") or {}).items()}
    for k, v in (own.get("intents") or {}).items():
        intents.setdefault(k, {"data": []})["data"].extend((v or {}).get("data") or [])
    return {**own, "language": language, "intents": intents,
            "lists": {**(lib.get("lists") or {}), **(own.get("lists") or {})},
            "expansion_rules": {**(lib.get("expansion_rules") or {}), **(own.get("expansion_rules") or {})},
            "skip_words": [*(lib.get("skip_words") or []), *(own.get("skip_words") or [])]}
