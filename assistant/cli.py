"""``assistant``: the on-device side. Today: ask the teacher directly (transcribe, score)."""

from __future__ import annotations

import argparse
import sys

from .commands.loop import add_loop_flags, cmd_listen, cmd_run
from .commands.teacher import cmd_score, cmd_serve_teacher, cmd_transcribe, cmd_understand
from .errors import OneLineParser, at_least, number_in, run_command
from .intents import DEFAULT as DEFAULT_INTENTS

INTENTS_HELP = (f"intents: '{DEFAULT_INTENTS}' (Home Assistant's English sentences, the default), 'home' (a "
                "small example), any Home Assistant template YAML or a Rhino context; several at once")


def cmd_soak(args: argparse.Namespace) -> int:
    from .bench.soak import cmd_soak as soak  # the soak drives the loop the way `run` does

    return soak(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``assistant`` command line."""
    ap = OneLineParser(prog="assistant", description=__doc__)
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)

    def teacher_flags(p: argparse.ArgumentParser, backend: str = "ctranslate2") -> None:
        p.add_argument("--model", default="tiny.en", help="tiny.en (default), base, or a local Whisper directory")
        p.add_argument("--backend", default=backend, choices=("transformers", "ctranslate2"))
        p.add_argument("--compute-type", default="float32", help="ctranslate2 only: float32 or int8")
        p.add_argument("--threads", type=at_least(1), default=None)

    def assistant_flags(p: argparse.ArgumentParser) -> None:  # shared by run and listen
        p.add_argument("--student", default=None, help="model directory or registry name (default: shipped)")
        p.add_argument("--intents", nargs="+", default=[DEFAULT_INTENTS], metavar="FILE",
                       help=INTENTS_HELP)
        p.add_argument("--no-grammar", action="store_true",
                       help="requests by free transcription + hassil only (no decoding under the grammar)")
        p.add_argument("--no-teacher", action="store_true", help="never defer (answers only what the student is sure of)")
        add_loop_flags(p)
        p.add_argument("--teacher-url", default=None, help="ask a teacher server instead of loading the teacher here")
        p.add_argument("--teacher-timeout", type=number_in(0, low_open=True), default=5.0, help="seconds to wait for the teacher server")
        p.add_argument("--teacher-token", default=None, help="bearer token of the teacher server (default: $VOICE_ASSISTANT_TOKEN)")
        p.add_argument("--keep-heard", nargs="?", const="", default=None, metavar="DIR",
                       help="keep short deferred segments and the teacher's transcript of each in DIR (default: "
                            "~/.local/share/voice-assistant/heard); training add-intent learns the ones of its "
                            "word from them. Local only; off unless given")

    def teacher_opts(p: argparse.ArgumentParser, backend: str, name: str = "") -> None:
        p.add_argument("files", nargs="+")
        teacher_flags(p, backend)
        if name != "run":
            p.add_argument("--json", action="store_true", help="one JSON object per file")
        else:
            p.add_argument("--json", default=None, help="write every decision to this file")

    p = sub.add_parser("transcribe", help="the teacher's transcript of audio files")
    teacher_opts(p, "ctranslate2")
    p.add_argument("--max-seconds", type=number_in(0, low_open=True), default=3600.0, help="refuse longer files")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("run", help="the assistant loop on audio files: instant answers + teacher deferrals")
    teacher_opts(p, "ctranslate2", "run")
    assistant_flags(p)
    p.add_argument("--realtime", action="store_true", help="feed audio at real-time pace")
    p.add_argument("--max-seconds", type=number_in(0, low_open=True), default=600.0)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("soak", help="hours of commands, speech, noise and quiet through the loop as fast as it "
                       "goes: memory, latency and errors over time (JSON + Markdown + plot)")
    p.add_argument("--hours", type=number_in(0, low_open=True), default=10.0)
    teacher_flags(p)
    p.add_argument("--student", default=None, help="model directory or registry name (default: shipped)")
    p.add_argument("--intents", nargs="+", default=[DEFAULT_INTENTS], metavar="FILE", help=INTENTS_HELP)
    p.add_argument("--no-teacher", action="store_true", help="the student alone (deferrals go unanswered)")
    p.add_argument("--no-grammar", action="store_true", help="requests by free transcription + hassil only")
    p.add_argument("--teacher-url", default=None, help="ask a teacher server instead of loading the teacher here")
    p.add_argument("--teacher-timeout", type=number_in(0, low_open=True), default=5.0)
    p.add_argument("--teacher-token", default=None, help="bearer token of the teacher server")
    p.add_argument("--data", default="../shared/data", help="real clips and noise (else audio_samples/ + synthetic noise)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report-dir", default="docs/soak")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.set_defaults(func=cmd_soak)

    p = sub.add_parser("listen", help="the assistant on the microphone")
    p.add_argument("--device", default=None, help="capture device index or name (see --list-devices)")
    p.add_argument("--list-devices", action="store_true")
    teacher_flags(p)
    assistant_flags(p)
    p.add_argument("--seconds", type=number_in(0, low_open=True), default=None, help="stop after this long")
    p.add_argument("--speak", action="store_true", help="speak answers (offline Piper voice)")
    p.add_argument("--reconnect-s", type=number_in(0), default=30.0,
                   help="when the microphone is lost, keep trying to reopen it this long (0: exit at once)")
    p.add_argument("--output-device", default=None, help="playback device for --speak")
    p.add_argument("--json", default=None, help="write every decision here on exit")
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("serve-teacher", help="serve the teacher over HTTP (OpenAI-compatible transcription + intents)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=at_least(1, 65535), default=8765)
    teacher_flags(p)
    p.add_argument("--intents", nargs="+", default=[DEFAULT_INTENTS], metavar="FILE", help=INTENTS_HELP)
    p.add_argument("--no-grammar", action="store_true", help="/v1/intent by free transcription + hassil only")
    p.add_argument("--max-mb", type=number_in(0, low_open=True), default=10.0, help="largest request body")
    p.add_argument("--max-seconds", type=number_in(0, low_open=True), default=30.0, help="longest audio accepted")
    p.add_argument("--token", default=None, help="bearer token every request must send (default: "
                   "$VOICE_ASSISTANT_TOKEN; needed beyond loopback)")
    p.add_argument("--max-queue", type=at_least(1), default=16, help="utterances waiting before 429 Retry-After")
    p.add_argument("--max-batch", type=at_least(1), default=8, help="queued utterances sent through the encoder at once")
    p.add_argument("--deadline", type=number_in(0, low_open=True), default=10.0,
                   help="seconds a request may take, queue included (504 past it)")
    p.set_defaults(func=cmd_serve_teacher)

    p = sub.add_parser("understand", help="spoken requests in audio files -> intent and slots, decoded under "
                       "the intents' grammar")
    p.add_argument("files", nargs="+")
    p.add_argument("--intents", nargs="+", default=[DEFAULT_INTENTS], metavar="FILE", help=INTENTS_HELP)
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=None)
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=cmd_understand)

    p = sub.add_parser("score", help="the teacher's posterior over a label set for audio files")
    teacher_opts(p, "transformers")
    p.add_argument("--labelset", default="speech_commands")
    p.add_argument("--top", type=at_least(1), default=3)
    p.set_defaults(func=cmd_score)

    from .bench.run import add_parser as add_bench
    from .record import add_parser as add_record

    add_bench(sub)
    add_record(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
