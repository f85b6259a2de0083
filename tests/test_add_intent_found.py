"""Real voices of an added word found by the teacher: rehearsal clips it transcribed as the phrase become
``add-intent``'s positives when it also labels them the new word over the grown label set."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.corpus import find_clips, select
from assistant.registry import PACKAGE_ROOT, Registry
from assistant.student import Student

pytestmark = pytest.mark.slow


def test_real_clips_the_teacher_hears_as_the_phrase_become_positives(shared_data: Path, ct2_teacher, labelset,
                                                                      tmp_path: Path) -> None:
    from assistant.teacher.weights import cache_root
    from training.add_intent_data import rehearsal, teacher_found
    from training.cache import LabelCache
    from training.add_intent import with_label
    from training.label import label_clips

    src = shared_data / "gsc_v2_test_dev" / "_unknown_"
    data = tmp_path / "data"
    folder = data / "gsc_v2_test_dev" / "_unknown_"
    folder.mkdir(parents=True)
    for p in sorted(src.glob("marvin_*.flac")) + sorted(src.glob("backward_*.flac"))[:12]:
        (folder / p.name).symlink_to(p)
    cache = LabelCache(tmp_path / "labels.sqlite")
    clips = select(find_clips([data / "gsc_v2_test_dev"]), "train")  # what the rehearsal reads
    marvins = {c.path.name for c in clips if c.path.name.startswith("marvin_")}
    assert marvins and len(clips) > len(marvins)
    label_clips(clips, ct2_teacher, labelset, cache, progress=False)  # the cache as `training pipeline` leaves it
    new = with_label(labelset, "marvin", ["marvin"])
    parent = Student(Registry(PACKAGE_ROOT).path("speech_commands"))
    reh, info, _, found = rehearsal(labelset, new, ["marvin"], parent, cache, ct2_teacher.id, data,
                                    cache_root() / "tts", 16000, False, speech=False)
    heard = {c.path.name for c in found}
    assert heard, f"the teacher transcribed none of {len(marvins)} real 'marvin's as the phrase"
    assert heard <= marvins  # found by the teacher's transcript alone, never a folder name
    assert info["left_out_as_the_new_phrase"] >= len(found)  # and not rehearsed as another word
    assert "rehearsal" in set(reh.source) and len(reh) == info["clips"]
    kept, labels = teacher_found(found, ct2_teacher, new, "marvin", cache)
    assert kept and all(labels[str(c.path)].top == "marvin" for c in kept)
    assert teacher_found([], ct2_teacher, new, "marvin", cache) == ([], {})
