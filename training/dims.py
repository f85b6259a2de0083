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

    def to_dict(self) -> dict:
        """Manifest form."""
        return {**asdict(self), "blocks": list(self.blocks)}

    @classmethod
    def from_dict(cls, d: dict) -> StudentDims:
        """From a manifest."""
        return cls(**{**d, "blocks": tuple(d["blocks"])})
