"""The project's small exception family: one clear line for the user, cause kept with ``from e``."""

from __future__ import annotations


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
