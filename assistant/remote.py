"""Client for a teacher server (``assistant serve-teacher`` or any OpenAI-compatible transcription API).

Standard library only (urllib), so the on-device runtime needs nothing more. Every failure becomes a
:class:`TeacherError` with one line saying what happened; callers keep answering locally. After a failure
the client backs off (1 s, doubling to 30 s; a 429's ``Retry-After`` wins) and fails fast meanwhile, so a
server that is down costs the device no waiting; the first request after the pause reconnects.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid

import numpy as np

from .audio import SAMPLE_RATE
from .errors import TeacherError
from .teacher.base import Transcript


def wav_bytes(audio: np.ndarray) -> bytes:
    """16-bit PCM WAV of 16 kHz mono float samples."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _multipart(fields: dict[str, str], file_bytes: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="audio.wav"\r\n'
                 f"Content-Type: audio/wav\r\n\r\n".encode() + file_bytes + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _number(v: object) -> float | None:
    """An optional numeric field of a server's answer; absent or malformed: None (the transcript alone
    still answers)."""
    return float(v) if isinstance(v, (int, float)) else None


TOKEN_ENV = "VOICE_ASSISTANT_TOKEN"
"""Environment variable with the teacher server's bearer token (both sides read it)."""
BACKOFF_S = (1.0, 30.0)
"""First and longest pause (s) after a failed request before the client tries the server again."""


class _Refused(TeacherError):
    """The server answered 400/415/422: it does not take this request (e.g. ``verbose_json``)."""


class RemoteTeacher:
    """``transcribe(audio) -> Transcript`` over HTTP, with a timeout."""

    def __init__(self, url: str, timeout_s: float = 5.0, token: str | None = None) -> None:
        """``token``: the server's bearer token (default: ``$VOICE_ASSISTANT_TOKEN``; none sent if unset)."""
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.token = token or os.environ.get(TOKEN_ENV) or None
        self.plain = False
        """Set once the server refused ``verbose_json``: ask for plain ``json`` from then on."""
        self._pause_s = 0.0
        self._until = 0.0
        self._why = ""

    def _failed(self, why: str, pause_s: float | None = None) -> TeacherError:
        """Remember a failure and start (or lengthen) the pause before the next try."""
        self._pause_s = pause_s if pause_s is not None else min(BACKOFF_S[1], max(BACKOFF_S[0], 2 * self._pause_s))
        self._until, self._why = time.monotonic() + self._pause_s, why
        return TeacherError(why)

    def _post(self, path: str, audio: np.ndarray, fields: dict[str, str]) -> dict:
        if (wait := self._until - time.monotonic()) > 0:
            raise TeacherError(f"{self._why}; next try in {wait:.0f} s")
        body, ctype = _multipart(fields, wav_bytes(audio))
        headers = {"Content-Type": ctype, **({"Authorization": f"Bearer {self.token}"} if self.token else {})}
        req = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        slow = f"teacher server at {self.url} did not answer within {self.timeout_s:g} s"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:200]
            if e.code in (400, 413, 415, 422):  # it refuses this request, not every request
                raise _Refused(f"teacher server at {self.url} refused the request ({e.code}: {detail})") from e
            if e.code == 401:
                raise self._failed(f"teacher server at {self.url} wants a valid token (401): set --teacher-token "
                                   f"or {TOKEN_ENV}") from e
            if e.code == 429:
                after = e.headers.get("Retry-After", "")
                raise self._failed(f"teacher server at {self.url} is busy (429)",
                                   float(after) if after.replace(".", "", 1).isdigit() else None) from e
            raise self._failed(f"teacher server at {self.url} failed ({e.code}: {detail})") from e
        except (socket.timeout, TimeoutError) as e:
            raise self._failed(slow) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise self._failed(slow) from e
            raise self._failed(f"teacher server at {self.url} is unreachable ({reason})") from e
        self._pause_s = self._until = 0.0  # it answered: no pause next time
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("text"), str):
                raise ValueError("no 'text' field")
        except ValueError as e:
            raise TeacherError(f"teacher server at {self.url} returned something unusable ({e})") from e
        return data

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """The server's transcript of 16 kHz mono audio, with the teacher's label posterior when the server
        sends one (``verbose_json``; any OpenAI-compatible server works, without it)."""
        path, plain = "/v1/audio/transcriptions", {"model": "whisper-1", "response_format": "json"}
        if self.plain:
            data = self._post(path, audio, plain)
        else:
            try:
                data = self._post(path, audio, {**plain, "response_format": "verbose_json"})
            except _Refused as refused:
                try:
                    data = self._post(path, audio, plain)
                except TeacherError:
                    raise refused from None  # it refuses the audio itself, not the format
                self.plain = True  # a server that only speaks plain json
        raw = data.get("labels")
        labels = {str(k): _number(v) for k, v in raw.items()} if isinstance(raw, dict) else None
        return Transcript(data["text"], _number(data.get("no_speech_prob")) or 0.0,
                          _number(data.get("processing_seconds")) or 0.0, _number(data.get("noise_prob")),
                          labels if labels and None not in labels.values() else None)

    def understand(self, audio: np.ndarray) -> Transcript:
        """Requests (long segments) go to the server's ``/v1/intent``, which decodes them under its intent
        grammar; short segments, and servers without that endpoint, get :meth:`transcribe`."""
        from .understand import REQUEST_S

        if audio.size < REQUEST_S * 16000:
            return self.transcribe(audio)
        try:
            data = self._post("/v1/intent", audio, {})
        except _Refused:
            return self.transcribe(audio)
        if data.get("in_grammar") and isinstance(data.get("intent"), str):
            slots = data.get("slots") if isinstance(data.get("slots"), dict) else {}
            return Transcript(str(data.get("sentence") or data.get("text") or ""), 0.0,
                              _number(data.get("processing_seconds")) or 0.0,
                              intent={"intent": data["intent"], "slots": slots})
        return self.transcribe(audio)

