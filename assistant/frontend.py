"""The student's audio front end, defined once: these settings drive the log-mel module that training
uses and that is exported inside the ONNX graph, and they travel in every model's manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .audio import SAMPLE_RATE


@dataclass(frozen=True)
class FrontEnd:
    """Log-mel settings: 16 kHz waveform in, (n_mels, frames) log energies out."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = 400
    """Window length in samples (25 ms)."""
    hop: int = 160
    """Hop in samples (10 ms)."""
    n_mels: int = 40
    f_min: float = 20.0
    f_max: float = 7600.0
    window_seconds: float = 1.0
    """Length of the student's input window."""

    def __post_init__(self) -> None:
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"the front end runs at {SAMPLE_RATE} Hz, got {self.sample_rate}")
        if not 0 < self.hop <= self.n_fft:
            raise ValueError("hop must be in (0, n_fft]")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ValueError("need 0 <= f_min < f_max <= Nyquist")
        if not 0 < self.window_seconds < 3600:  # NaN and inf too: window_samples would not be a number
            raise ValueError(f"window_seconds must be in (0, 3600), got {self.window_seconds}")

    @property
    def window_samples(self) -> int:
        """Samples in one input window."""
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def n_bins(self) -> int:
        """DFT bins computed: those up to ``f_max`` (the mel filters are zero above it)."""
        return min(self.n_fft // 2, int(self.f_max * self.n_fft // self.sample_rate)) + 1

    @property
    def frames(self) -> int:
        """Mel frames per window (no padding: frames = 1 + (samples - n_fft) // hop)."""
        return 1 + (self.window_samples - self.n_fft) // self.hop

    def to_dict(self) -> dict:
        """Manifest form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FrontEnd:
        """From a manifest (unknown keys are an error: a newer model needs a newer runtime)."""
        if not isinstance(d, dict):
            raise TypeError(f"the front end must be a mapping of settings, not {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        if unknown := [k for k in d if k not in known]:  # listed as reprs: a key may hold any character
            raise ValueError(f"unknown front-end settings {unknown}; a newer model needs a newer runtime")
        return cls(**d)
