"""The student's architecture settings, apart from torch: ``distill`` and the manifest use them without
importing the network (``training.model`` builds it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class StudentDims:
    """Architecture; saved with the weights so a model rebuilds from its files alone."""

    n_classes: int
    width: int = 16
    """Channels of the first stage (later stages: 1x, 1.5x, 2x, 2.5x)."""
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    dropout: float = 0.1
    branches: tuple[int, ...] = ()
    """Outputs computed by side branches (``add-intent --branch``), by position; the others by the main head."""
    branch_at: int | None = None
    """Block after which the side branches split from the main path (each: a copy of the later blocks + head)."""

    def to_dict(self) -> dict:
        """Manifest form (without the branch fields when there are none, as before they existed)."""
        d = {**asdict(self), "blocks": list(self.blocks), "branches": list(self.branches)}
        if not self.branches:
            del d["branches"], d["branch_at"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> StudentDims:
        """From a manifest."""
        return cls(**{**d, "blocks": tuple(d["blocks"]), "branches": tuple(d.get("branches", ()))})
