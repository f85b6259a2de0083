"""Model registry: ``<root>/<name>/<version>/`` directories and a ``CURRENT`` pointer per name.

Promotion writes the pointer to a temporary file and renames it over ``CURRENT`` (atomic on POSIX):
a crash at any point leaves either the old or the new version in force, never a broken one.
The shipped default lives in the package (``assistant/models``); ``$ASSISTANT_MODELS`` overrides it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from .errors import ModelError

DEFAULT_NAME = "speech_commands"
_VERSION = re.compile(r"^v(\d+)$")


PACKAGE_ROOT = Path(__file__).parent / "models"


def data_home() -> Path:
    """The user's data folder for this project: ``$XDG_DATA_HOME/voice-assistant`` (``~/.local/share/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "voice-assistant"


def user_root() -> Path:
    """Where models a user makes (``training add-intent``) live."""
    return data_home() / "models"


def default_root() -> Path:
    """Registry root: ``$ASSISTANT_MODELS``; else the user's models once they made one; else the shipped ones."""
    env = os.environ.get("ASSISTANT_MODELS")
    if env:
        return Path(env)
    user = user_root()
    return user if any(user.glob("*/CURRENT")) else PACKAGE_ROOT


def writable_root() -> Path:
    """Where new versions go by default: ``$ASSISTANT_MODELS``, else the user's models folder — never the
    installed package (rebuild the shipped student with ``--registry assistant/models``)."""
    env = os.environ.get("ASSISTANT_MODELS")
    return Path(env) if env else user_root()


class Registry:
    """Versions of named models under one root."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_root()

    def check_writable(self) -> None:
        """Create the root if needed; a folder that cannot be written is one clear error."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as e:
            raise ModelError(f"cannot write models to {self.root} ({e.strerror}); give --registry or "
                             "ASSISTANT_MODELS a writable folder") from None

    def versions(self, name: str) -> list[str]:
        """Existing versions, oldest first."""
        d = self.root / name
        if not d.is_dir():
            return []
        found = [p.name for p in d.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def next_version(self, name: str) -> str:
        """The version a new export gets."""
        vs = self.versions(name)
        return f"v{int(vs[-1][1:]) + 1 if vs else 1}"

    def current(self, name: str = DEFAULT_NAME) -> str | None:
        """The promoted version, if any."""
        ptr = self.root / name / "CURRENT"
        return ptr.read_text().strip() if ptr.is_file() else None

    def path(self, name: str = DEFAULT_NAME, version: str | None = None) -> Path:
        """Directory of a version (default: the promoted one)."""
        version = version or self.current(name)
        if version is None:
            raise ModelError(f"no promoted version of model '{name}' in {self.root}; run 'training pipeline'")
        d = self.root / name / version
        if not d.is_dir():
            raise ModelError(f"{d}: the promoted version is missing; promote another with 'training promote'")
        return d

    def promote(self, name: str, version: str) -> None:
        """Make ``version`` current, atomically."""
        if not (self.root / name / version).is_dir():
            raise ModelError(f"cannot promote {name}/{version}: no such version in {self.root}")
        ptr = self.root / name / "CURRENT"
        tmp = ptr.with_name(f".CURRENT.{os.getpid()}.tmp")
        try:
            tmp.write_text(version + "\n")
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, ptr)
        except OSError as e:  # e.g. a full disk: the version in force stays in force
            tmp.unlink(missing_ok=True)
            raise ModelError(f"cannot promote {name}/{version} ({e.strerror or e}); {self.current(name) or 'nothing'} "
                             "stays in force: fix that (e.g. free disk space) and rerun") from e


class Watcher:
    """Notices when another version of a model is promoted (e.g. by ``training add-intent`` while the
    assistant runs); checks the registry's ``CURRENT`` at most every ``every_s`` seconds."""

    def __init__(self, name: str = DEFAULT_NAME, root: str | Path | None = None, every_s: float = 1.0) -> None:
        self.name, self.fixed_root, self.every_s = name, root, every_s
        self.last = self._state()
        self.checked = time.monotonic()

    def _state(self) -> tuple[Path, str | None]:
        r = Registry(self.fixed_root)
        return r.root, r.current(self.name)

    def poll(self) -> Path | None:
        """The newly promoted version's directory, once per change; None otherwise."""
        now = time.monotonic()
        if now - self.checked < self.every_s:
            return None
        self.checked = now
        state = self._state()
        if state == self.last or state[1] is None:
            return None
        self.last = state
        return state[0] / self.name / state[1]


def writable_registry(root: str | Path | None, name: str = DEFAULT_NAME) -> Registry:
    """The registry new versions of ``name`` go to (``root``, else :func:`writable_root`). An empty one is
    first seeded with a copy of the shipped version, if there is one, so that it can be promoted back;
    the installed package is never written."""
    reg = Registry(root or writable_root())
    reg.check_writable()
    shipped = Registry(PACKAGE_ROOT)
    version = shipped.current(name)
    if reg.current(name) is not None or version is None or reg.root.resolve() == shipped.root.resolve():
        return reg
    final = reg.root / name / version
    if not final.is_dir():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{version}.copy")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(shipped.path(name, version), tmp)
        tmp.rename(final)
    reg.promote(name, version)
    return reg
