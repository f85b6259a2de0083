"""``assistant serve-teacher``: the teacher over HTTP, for assistants on other machines.

``POST /v1/audio/transcriptions`` is OpenAI-compatible (multipart ``file``, optional ``model`` and
``response_format`` = json | text | verbose_json); ``POST /v1/intent`` understands a request: decoded
under the grammar of the server's intents when it is one (``in_grammar``), else free transcription + hassil;
``GET /health``. Both POSTs return an empty transcript for noise (:meth:`Teacher.hear`). Requests are
limited in size and duration; the server binds to loopback by default. fastapi/uvicorn are imported
only here (this module is loaded only by ``serve-teacher``). No ``from __future__ import annotations``:
FastAPI reads the endpoint annotations at run time.
"""

import threading

from fastapi import FastAPI, File, Form, HTTPException, UploadFile
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from .audio import load_audio
from .errors import AudioError
from .intents import IntentSet
from .teacher import Teacher

MAX_BYTES_DEFAULT = 10 * 1024 * 1024
MAX_SECONDS_DEFAULT = 30.0


def create_app(teacher: Teacher, intents: IntentSet, max_bytes: int = MAX_BYTES_DEFAULT,
               max_seconds: float = MAX_SECONDS_DEFAULT, understander=None):
    """The FastAPI application around one loaded teacher."""

    app = FastAPI(title="voice-assistant teacher", version="1")
    lock = threading.Lock()  # one transcription at a time: the teacher already uses every core

    async def read_audio(file: UploadFile):
        data = await file.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise HTTPException(413, f"audio larger than {max_bytes} bytes; send at most {max_seconds:g} s")
        try:
            return load_audio(data, max_seconds=max_seconds)
        except AudioError as e:
            raise HTTPException(400, str(e).replace("uploaded audio: ", "")) from e

    def transcribe(audio):
        with lock:
            return teacher.hear(audio.samples)  # noise Whisper would hear as "Okay." comes back empty

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "teacher": teacher.id, "max_seconds": max_seconds, "max_bytes": max_bytes}

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(file: UploadFile = File(...), model: str = Form("whisper-1"),
                             response_format: str = Form("json")):
        audio = await read_audio(file)
        t = await run_in_threadpool(transcribe, audio)
        if response_format == "text":
            return PlainTextResponse(t.text)
        if response_format == "verbose_json":
            return {"text": t.text, "duration": audio.seconds, "language": "en",
                    "no_speech_prob": t.no_speech_prob, "noise_prob": t.noise_prob, "labels": t.labels,
                    "processing_seconds": t.seconds}
        return {"text": t.text}

    def understand(audio):
        with lock:
            return (understander or teacher.hear)(audio.samples)

    @app.post("/v1/intent")
    async def intent(file: UploadFile = File(...)):
        audio = await read_audio(file)
        t = await run_in_threadpool(understand, audio)
        if t.intent:
            return {"text": t.text, "sentence": t.text, "in_grammar": True, "intent": t.intent["intent"],
                    "slots": t.intent["slots"], "processing_seconds": t.seconds}
        match = intents.from_text(t.text)
        return {"text": t.text, "in_grammar": False, "intent": match.intent if match else None,
                "slots": match.slots if match else {}, "processing_seconds": t.seconds}

    return app


def serve(teacher: Teacher, intents: IntentSet, host: str, port: int, max_bytes: int, max_seconds: float,
          understander=None) -> None:
    """Run the server until interrupted."""
    import uvicorn

    uvicorn.run(create_app(teacher, intents, max_bytes, max_seconds, understander), host=host, port=port,
                log_level="warning")
