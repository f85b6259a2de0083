"""Label sets are data: built-ins load, broken files are refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import LabelSetError
from assistant.labelset import LabelSet, load_labelset


def test_builtin_speech_commands_is_the_standard_12_class_task() -> None:
    ls = load_labelset("speech_commands")
    assert ls.labels == ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                         "_unknown_", "_silence_")


def test_digits_is_closed() -> None:
    ls = load_labelset("digits")
    assert ls.unknown is None and ls.silence is None and len(ls.labels) == 10
    assert "7" in ls.phrases[7]


def test_id_depends_on_content_only(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text('name: x\nlabels: {"lights on": ["lights on", "turn on the lights"]}\n')
    b = tmp_path / "b.yaml"
    b.write_text('# same content, other layout\nname: y\nlabels:\n  "lights on":\n    - lights on\n'
                 '    - turn on the lights\n')
    assert load_labelset(a).id == load_labelset(b).id
    c = tmp_path / "c.yaml"
    c.write_text('labels: {"lights on": ["lights on"]}\n')
    assert load_labelset(c).id != load_labelset(a).id


@pytest.mark.parametrize("text, match", [
    ("labels:\n  yes: [yes]\n", "quote it"),
    ("labels: [yes, no\n", "not valid YAML"),
    ("just a string\n", "non-empty 'labels:'"),
    ("labels: {}\n", "non-empty 'labels:'"),
    ('labels: {"a": []}\n', "non-empty phrases"),
    ('labels: {"a": ["x"], "_unknown_": ["y"]}\n', "unique"),
    ('labels: {"a": ["x"]}\nunknown: 3\n', "label name or null"),
])
def test_broken_files_are_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabelSetError, match=match) as e:
        load_labelset(path)
    assert "\n" not in str(e.value)


def test_missing_file() -> None:
    with pytest.raises(LabelSetError, match="no such label-set file"):
        load_labelset("/nonexistent/labels.yaml")


def test_round_trip() -> None:
    ls = load_labelset("speech_commands")
    assert LabelSet.from_dict(ls.to_dict()) == ls
