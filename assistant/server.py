"""``assistant serve-teacher``: the teacher over HTTP, for the assistants of many devices.

``POST /v1/audio/transcriptions`` is OpenAI-compatible (multipart ``file``, optional ``model`` and
``response_format`` = json | text | verbose_json); ``POST /v1/intent`` understands a request: decoded
under the grammar of the server's intents when it is one (``in_grammar``), else free transcription + hassil.
Both POSTs return an empty transcript for noise (:meth:`Teacher.hear`) and, with a token set, need
``Authorization: Bearer <token>`` (401 otherwise). Requests wait in a bounded queue (429 + ``Retry-After``
when full) for one teacher worker that batches queued utterances (:mod:`assistant.serving`); each has a
deadline (504 past it). ``GET /health`` and ``GET /metrics`` (Prometheus text) need no token. fastapi and
uvicorn are imported only here. No ``from __future__ import annotations``: FastAPI reads the endpoint
annotations at run time.
"""

import asyncio
import hmac
import time

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse

from .audio import load_audio
from .errors import AudioError
from .intents import IntentSet
from .serving import Busy, Expired, Metrics, TeacherQueue
from .teacher import Teacher

MAX_BYTES_DEFAULT = 10 * 1024 * 1024
MAX_SECONDS_DEFAULT = 30.0
DEADLINE_S_DEFAULT = 10.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def create_app(teacher: Teacher, intents: IntentSet, max_bytes: int = MAX_BYTES_DEFAULT,
               max_seconds: float = MAX_SECONDS_DEFAULT, understander=None, token: str | None = None,
               max_queue: int = 16, max_batch: int = 8, deadline_s: float = DEADLINE_S_DEFAULT):
    """The FastAPI application around one loaded teacher (``token``: the bearer token every POST needs)."""

    app = FastAPI(title="voice-assistant teacher", version="1")
    metrics = Metrics()
    jobs = TeacherQueue(teacher.hear_batch, understander or teacher.hear, max_queue, max_batch, metrics)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """Authentication first, then the handler; every POST is counted with its status and latency."""
        start = time.monotonic()
        path = request.url.path
        if request.method == "POST" and token is not None:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                metrics.observe(path, 401)
                return JSONResponse({"detail": "missing or wrong bearer token (send Authorization: Bearer <token>)"},
                                    401, headers={"WWW-Authenticate": "Bearer"})
        response = await call_next(request)
        if request.method == "POST":
            metrics.observe(path, response.status_code,
                            time.monotonic() - start if response.status_code == 200 else None)
        return response

    async def read_audio(file: UploadFile):
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPException(413, f"audio larger than {max_bytes} bytes; send at most {max_seconds:g} s")
        try:
            return load_audio(data, max_seconds=max_seconds)
        except AudioError as e:
            raise HTTPException(400, str(e).replace("uploaded audio: ", "")) from e

    async def answer(kind: str, audio):
        """Queue the utterance and wait for the worker, within the deadline."""
        try:
            future = jobs.submit(kind, audio.samples, deadline_s)
        except Busy as e:
            raise HTTPException(429, str(e), headers={"Retry-After": str(int(e.retry_after_s))}) from e
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), deadline_s)
        except (asyncio.TimeoutError, Expired) as e:
            future.cancel()
            raise HTTPException(504, f"the teacher did not answer within {deadline_s:g} s; retry later") from e

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "teacher": teacher.id, "max_seconds": max_seconds, "max_bytes": max_bytes,
                "queue": len(jobs.jobs), "max_queue": max_queue, "auth": token is not None}

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(file: UploadFile = File(...), model: str = Form("whisper-1"),
                             response_format: str = Form("json")):
        audio = await read_audio(file)
        t = await answer("hear", audio)  # noise Whisper would hear as "Okay." comes back empty
        if response_format == "text":
            return PlainTextResponse(t.text)
        if response_format == "verbose_json":
            return {"text": t.text, "duration": audio.seconds, "language": "en",
                    "no_speech_prob": t.no_speech_prob, "noise_prob": t.noise_prob, "labels": t.labels,
                    "processing_seconds": t.seconds}
        return {"text": t.text}

    @app.post("/v1/intent")
    async def intent(file: UploadFile = File(...)):
        audio = await read_audio(file)
        t = await answer("understand", audio)
        if t.intent:
            return {"text": t.text, "sentence": t.text, "in_grammar": True, "intent": t.intent["intent"],
                    "slots": t.intent["slots"], "processing_seconds": t.seconds}
        match = intents.from_text(t.text)
        return {"text": t.text, "in_grammar": False, "intent": match.intent if match else None,
                "slots": match.slots if match else {}, "processing_seconds": t.seconds}

    app.state.queue = jobs
    return app


def serve(teacher: Teacher, intents: IntentSet, host: str, port: int, max_bytes: int, max_seconds: float,
          understander=None, **options) -> None:
    """Run the server until interrupted (``options``: :func:`create_app`'s token and queue settings)."""
    import uvicorn

    uvicorn.run(create_app(teacher, intents, max_bytes, max_seconds, understander, **options), host=host,
                port=port, log_level="warning")
