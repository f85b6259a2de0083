"""Picovoice Rhino context files (``context: {expressions, slots}``) -> Home Assistant sentence templates.

Rhino writes ``[a, b]`` for "one of", ``(a)`` for "optional" and ``$list:slot`` for a slot; hassil writes
``(a|b)``, ``[a]`` and ``{list:slot}``. Slot values that contain number words also accept digits
("twelve ounce" <- "12 ounce"), the way Whisper tends to write them, while the slot's value stays Rhino's.
"""

from __future__ import annotations

import re

from ..errors import LabelSetError

_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
            "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
            "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
            "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50"}


def is_rhino(data: object) -> bool:
    """Whether a parsed YAML document is a Rhino context."""
    return isinstance(data, dict) and isinstance(data.get("context"), dict) and "expressions" in data["context"]


def _group(body: str, source: str) -> str:
    """One Rhino bracket's inside -> hassil alternatives (``a, b`` -> ``a|b``)."""
    parts = [p.strip() for p in body.split(",")]
    if not all(parts):
        raise LabelSetError(f"{source}: empty alternative in [{body}]")
    return "|".join(parts)


def template(expression: str, source: str) -> str:
    """One Rhino expression -> one hassil template."""
    if expression.count("[") != expression.count("]") or expression.count("(") != expression.count(")"):
        raise LabelSetError(f"{source}: unbalanced brackets in {expression!r}")
    out = re.sub(r"\$([A-Za-z_][\w.]*):([A-Za-z_]\w*)", r"{\1:\2}", expression)
    out = re.sub(r"\(([^()\[\]]*)\)", lambda m: "[" + _group(m.group(1), source) + "]", out)  # optional
    out = re.sub(r"\[([^\[\]{}]*,[^\[\]{}]*)\]", lambda m: "(" + _group(m.group(1), source) + ")", out)
    return out


def _digit_form(value: str) -> str | None:
    words = value.split()
    if not any(w in _NUMBERS for w in words):
        return None
    return " ".join(_NUMBERS.get(w, w) for w in words)


def to_intents(data: dict, source: str) -> dict:
    """A Rhino context -> our intents YAML (``language``, ``intents``, ``lists``)."""
    ctx = data["context"]
    expressions, slots = ctx.get("expressions"), ctx.get("slots") or {}
    if not isinstance(expressions, dict) or not expressions:
        raise LabelSetError(f"{source}: a Rhino context needs 'expressions:' with at least one intent")
    if not isinstance(slots, dict):
        raise LabelSetError(f"{source}: 'slots:' must map slot names to lists of values")
    intents = {}
    for name, exprs in expressions.items():
        if not isinstance(exprs, list) or not all(isinstance(e, str) for e in exprs):
            raise LabelSetError(f"{source}: intent {name!r} needs a list of expression strings")
        intents[str(name)] = {"data": [{"sentences": [template(e, f"{source}: {name}") for e in exprs]}]}
    lists = {}
    for name, values in slots.items():
        if not isinstance(values, list) or not values:
            raise LabelSetError(f"{source}: slot {name!r} needs a list of values")
        entries: list = []
        for v in values:
            v = str(v).strip()
            entries.append({"in": v, "out": v})
            if (digits := _digit_form(v)) is not None:
                entries.append({"in": digits, "out": v})
        lists[str(name)] = {"values": entries}
    return {"language": "en", "intents": intents, "lists": lists}
