"""Injected faults in the middle of work: a full disk while labelling, exporting and promoting, a corrupt
label cache. Each ends in one clear line, loses nothing, and rerunning the same step recovers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import AssistantError, ModelError, run_command
from assistant.registry import Registry
from training.cache import CachedLabel, LabelCache


def _row(i: int, size: int = 2000) -> tuple[str, CachedLabel]:
    return f"sha{i:06d}", CachedLabel(("yes", "no"), np.array([0.9, 0.1]), {"text": "yes"}, {"pad": "x" * size}, 0.1)


def test_disk_full_while_labelling_keeps_the_labels_stored_so_far(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full" (its page limit reached), in the middle of a labelling run."""
    cache = LabelCache(tmp_path / "labels.sqlite")
    cache.put_many([_row(i) for i in range(20)], "teacher", "set")
    pages = cache.db.execute("PRAGMA page_count").fetchone()[0]
    cache.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    with pytest.raises(AssistantError, match="free disk space and rerun") as e:
        cache.put_many([_row(i, 50_000) for i in range(20, 40)], "teacher", "set")
    assert "\n" not in str(e.value)
    assert cache.count() == 20 and len(cache.get_many([f"sha{i:06d}" for i in range(40)], "teacher", "set")) == 20
    cache.db.execute("PRAGMA max_page_count = 1073741823")  # space freed: the same batch goes in
    cache.put_many([_row(i, 50_000) for i in range(20, 40)], "teacher", "set")
    assert cache.count() == 40


def _registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "models")
    for v in ("v1", "v2"):
        (reg.root / "speech_commands" / v).mkdir(parents=True)
    reg.promote("speech_commands", "v1")
    return reg


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_disk_full_while_promoting_keeps_the_old_model_in_force(tmp_path: Path) -> None:
    """The pointer's temporary file is /dev/full, which answers every write with ENOSPC, as a full disk does."""
    reg = _registry(tmp_path)
    tmp = reg.root / "speech_commands" / f".CURRENT.{os.getpid()}.tmp"
    tmp.symlink_to("/dev/full")
    with pytest.raises(ModelError, match="v1 stays in force") as e:
        reg.promote("speech_commands", "v2")
    assert "\n" not in str(e.value) and "No space left" in str(e.value)
    assert reg.current("speech_commands") == "v1" and not tmp.is_symlink()
    reg.promote("speech_commands", "v2")  # the rerun
    assert reg.current("speech_commands") == "v2"


def test_disk_full_while_exporting_leaves_no_half_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import training.export as export

    reg = _registry(tmp_path)

    def full_disk(model, out_dir: Path, *args) -> None:
        (out_dir / "model.onnx").write_bytes(b"\0" * 1000)  # part of the model written, then the disk fills
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "manifest.json"))

    monkeypatch.setattr(export, "build_model_dir", full_disk)
    with pytest.raises(OSError):
        export.register(None, reg, "speech_commands", {}, np.zeros(1), np.zeros(1), np.zeros(1))
    assert sorted(p.name for p in (reg.root / "speech_commands").iterdir()) == ["CURRENT", "v1", "v2"]
    assert reg.current("speech_commands") == "v1"


def test_a_full_disk_is_one_line_at_the_command_line(capsys: pytest.CaptureFixture) -> None:
    def job(args) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/models/speech_commands/.v3-x/model.onnx")

    assert run_command(job, None) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no space left on the disk" in err and "rerun the same command" in err


def test_a_corrupt_label_cache_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(AssistantError, match="not a usable label cache.*move it away and rerun") as e:
        LabelCache(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
