"""The teacher server on loopback, and a teacher that is down, slow or returns garbage."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from assistant.audio import load_audio
from assistant.errors import TeacherError
from assistant.remote import RemoteTeacher

from .conftest import sample

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """``assistant serve-teacher`` in its own process on a loopback port."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "serve-teacher", "--port", str(port),
                             "--threads", "2", "--max-mb", "1", "--max-seconds", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(proc.stderr.read())
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _post_raw(url: str, data: bytes) -> tuple[int, str]:
    from assistant.remote import _multipart

    body, ctype = _multipart({"model": "whisper-1"}, data)
    req = urllib.request.Request(url + "/v1/audio/transcriptions", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_transcription_is_openai_compatible(server: str) -> None:
    heard = RemoteTeacher(server, timeout_s=30).transcribe(load_audio(sample("yes")).samples)
    assert "yes" in heard.text.lower()
    assert heard.labels is not None and max(heard.labels, key=heard.labels.get) == "yes"  # the label posterior too


def test_audio_the_server_refuses_is_reported_and_the_format_kept(server: str) -> None:
    remote = RemoteTeacher(server, timeout_s=30)
    with pytest.raises(TeacherError, match="longer than"):
        remote.transcribe(np.zeros(16000 * 12, np.float32))  # over the server's 10 s limit
    assert not remote.plain  # the server refused the audio, not verbose_json


def test_a_server_without_the_label_posterior_still_answers() -> None:
    """Any OpenAI-compatible server: plain ``{"text": ...}`` (or junk where the posterior would be) is fine."""
    for body in (b'{"text": "turn it up"}', b'{"text": "up", "labels": "junk", "noise_prob": "x"}'):
        handler = type("H", (_Fake,), {"delay": 0.0, "body": body})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        try:
            heard = RemoteTeacher(f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=2).transcribe(
                np.zeros(1600, np.float32))
            assert heard.text in ("turn it up", "up") and heard.labels is None and heard.noise_prob is None
        finally:
            srv.shutdown()


def test_intent_endpoint(server: str) -> None:
    import json

    from .conftest import SAMPLES

    session = load_audio(SAMPLES / "session" / "session.flac", max_seconds=None).samples
    utt = json.loads((SAMPLES / "session" / "session.json").read_text())["utterances"][1]
    assert utt["text"] == "turn on the kitchen lights"
    audio = session[int((utt["start_s"] - 0.6) * 16000):int((utt["end_s"] + 0.6) * 16000)]
    data = RemoteTeacher(server, timeout_s=30)._post("/v1/intent", audio, {})
    assert data["intent"] == "HassTurnOn" and data["slots"] == {"area": "kitchen", "domain": "light"}, data
    assert data["in_grammar"] is True  # a request: decoded under the grammar of the server's intents
    heard = RemoteTeacher(server, timeout_s=30).understand(audio)  # what the loop asks with --teacher-url
    assert heard.intent == {"intent": "HassTurnOn", "slots": {"area": "kitchen", "domain": "light"}}


def test_noise_comes_back_as_an_empty_transcript(server: str, shared_data) -> None:
    kitchen = load_audio(shared_data / "noise" / "kitchen.flac", max_seconds=None).samples
    noise = kitchen[int(48.1 * 16000):int(49.0 * 16000)]  # Whisper alone hears "Okay." here
    data = RemoteTeacher(server, timeout_s=30)._post("/v1/audio/transcriptions", noise,
                                                      {"model": "whisper-1", "response_format": "verbose_json"})
    assert data["text"] == "" and data["noise_prob"] >= 0.5, data


def test_limits_and_bad_audio(server: str) -> None:
    code, body = _post_raw(server, b"RIFF0000WAVEjunk" * 10)
    assert code == 400 and "corrupt" in body
    from assistant.remote import wav_bytes

    code, body = _post_raw(server, wav_bytes(np.zeros(16000 * 12, np.float32)))  # 12 s > 10 s limit
    assert code == 400 and "longer than" in body
    code, body = _post_raw(server, b"\0" * (2 * 1024 * 1024))  # 2 MB > 1 MB limit
    assert code == 413


def test_teacher_down() -> None:
    with pytest.raises(TeacherError, match="unreachable"):
        RemoteTeacher(f"http://127.0.0.1:{_free_port()}", timeout_s=2).transcribe(np.zeros(1600, np.float32))


class _Fake(http.server.BaseHTTPRequestHandler):
    delay, body = 0.0, b""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("delay, body, match", [(2.0, b'{"text": "late"}', "did not answer"),
                                                (0.0, b"<html>oops</html>", "unusable"),
                                                (0.0, b'{"txt": 1}', "unusable")])
def test_teacher_slow_or_garbage(delay: float, body: bytes, match: str) -> None:
    handler = type("H", (_Fake,), {"delay": delay, "body": body})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(TeacherError, match=match):
            RemoteTeacher(f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=0.5).transcribe(np.zeros(1600, np.float32))
    finally:
        srv.shutdown()


class _PlainOnly(_Fake):
    """A server that refuses ``verbose_json`` (400) and answers plain ``json``."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        verbose = b"verbose_json" in body
        self.send_response(400 if verbose else 200)
        self.end_headers()
        self.wfile.write(b'{"error": "unsupported response_format"}' if verbose else b'{"text": "stop"}')


def test_a_server_that_refuses_verbose_json_is_asked_for_plain_json() -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainOnly)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        remote = RemoteTeacher(f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=2)
        for _ in range(2):  # the second call asks for plain json at once
            assert remote.transcribe(np.zeros(1600, np.float32)).text == "stop"
        assert remote.plain
    finally:
        srv.shutdown()


def test_loop_keeps_answering_locally_when_the_teacher_is_down() -> None:
    from .test_assistant import _run, _session

    remote = RemoteTeacher(f"http://127.0.0.1:{_free_port()}", timeout_s=1)
    events = [e for e in _run(_session(), 320, remote.transcribe) if e.decision.action.value != "IGNORE"]
    assert [e.answered_by for e in events] == ["student", "teacher", "student"]
    assert events[0].answer == "Yes noted." and events[2].answer == "Stopped."
    assert "teacher is unavailable" in events[1].answer and "unreachable" in events[1].answer
