"""Microphone source: a PortAudio capture stream (sounddevice) at 16 kHz mono, chunks into a queue.

sounddevice is imported only here, when a microphone is asked for (PortAudio enumerates devices once,
at import). Overflows are counted and logged; a lost device ends the stream with a clear message.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .audio import SAMPLE_RATE
from .errors import AssistantError

log = logging.getLogger(__name__)


class MicrophoneError(AssistantError):
    """No usable capture device, or the device went away."""


def _sd():
    try:
        import sounddevice as sd
    except OSError as e:  # the PortAudio library itself is missing
        raise MicrophoneError("PortAudio is not installed (apt install libportaudio2, or run ./setup.sh)") from e
    return sd


def list_devices() -> list[dict]:
    """Capture devices: index, name, channels, default rate, whether default."""
    sd = _sd()
    default_in = sd.default.device[0]
    return [{"index": i, "name": d["name"], "channels": d["max_input_channels"],
             "rate": d["default_samplerate"], "default": i == default_in}
            for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]


@dataclass
class MicStats:
    """What the capture did."""

    chunks: int = 0
    overflows: int = 0


class Microphone:
    """Context manager yielding float32 chunks (shape (n,)) from a capture device."""

    def __init__(self, device: int | str | None = None, block_ms: int = 20) -> None:
        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        self.block = SAMPLE_RATE * block_ms // 1000
        self.queue: queue.Queue = queue.Queue(maxsize=500)
        self.stats = MicStats()
        self.stream = None

    def _callback(self, indata, frames, time_info, status) -> None:
        if status.input_overflow:
            self.stats.overflows += 1
            log.warning("input overflow (%d so far): audio was dropped", self.stats.overflows)
        try:
            self.queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.stats.overflows += 1

    def __enter__(self) -> Microphone:
        sd = _sd()
        try:
            self.stream = sd.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=self.block,
                                         device=self.device, callback=self._callback)
            self.stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise MicrophoneError(f"cannot open the microphone {self.device if self.device is not None else '(default)'}"
                                  f" at 16 kHz ({e}); list devices with 'assistant listen --list-devices'") from e
        return self

    def __exit__(self, *exc) -> None:
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device must not mask the real error
                pass

    def chunks(self, timeout_s: float = 2.0) -> Iterator[np.ndarray]:
        """Captured chunks until the stream stops; a device silent for ``timeout_s`` counts as lost."""
        assert self.stream is not None
        while True:
            try:
                chunk = self.queue.get(timeout=timeout_s)
            except queue.Empty:
                if not self.stream.active:
                    raise MicrophoneError("the microphone stopped delivering audio (device unplugged?)") from None
                raise MicrophoneError(f"no audio from the microphone for {timeout_s:g} s (device lost?)") from None
            self.stats.chunks += 1
            yield chunk
