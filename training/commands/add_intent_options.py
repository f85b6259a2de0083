"""``training add-intent``'s options, defined once: its subcommand takes them from here, and so does
``bench-add-intent``, which runs add-intent exactly as that command line reads them (importing neither
the command line nor the benchmark)."""

from __future__ import annotations

import argparse

from assistant.errors import OneLineParser, at_least, number_in

PASSED_TO_ADD_INTENT = (("--voices", int), ("--epochs", int), ("--pos-weight", float), ("--hard-epochs", int),
                        ("--lr", float), ("--threads", int), ("--accept", float), ("--mel-shift", float),
                        ("--chatter", int), ("--branch", int), ("--whole", bool),
                        ("--near-names", int), ("--no-speech", bool), ("--no-found", bool),
                        ("--offset-rate", float), ("--heard", str))
"""add-intent settings that ``bench-add-intent`` takes and passes on."""


def add_options(p: argparse.ArgumentParser) -> None:
    """Every argument and option of ``training add-intent``, on ``p``."""
    from ..add_intent import ADDED_ACCEPT, BRANCH_AT, NEAR_VOICES
    from ..distill import DistillConfig
    from ..word_offset import FIT_RATE

    p.add_argument("name", nargs="?", help="the new label, e.g. marvin or kitchen_lights_on")
    p.add_argument("phrases", nargs="*", help="what people say for it (default: the name)")
    p.add_argument("--recordings", default=None, help="a folder of your recordings of the phrase (assistant record)")
    p.add_argument("--intents-file", default=None,
                   help="learn every new student entry of this intents YAML (entries with phrases:)")
    p.add_argument("--intent", default=None, help="intent it triggers (default: from the name), e.g. HassTurnOn")
    p.add_argument("--slot", action="append", default=[], help="slot value for the intent, e.g. name='kitchen lights'")
    p.add_argument("--response", default=None, help="what the assistant answers (intents without a built-in handler)")
    p.add_argument("--accept", type=float, default=ADDED_ACCEPT,
                   help="the new word's own instant-answer bar, still with the pause wait (default: the "
                        "student's bars, as for its other words; a lower bar answers it at once more often, and "
                        "for some words in chatter too: see README)")
    p.add_argument("--voices", type=at_least(1), default=24, help="synthetic voices per phrase")
    p.add_argument("--epochs", type=at_least(1), default=12)
    p.add_argument("--lr", type=number_in(0, low_open=True), default=2e-3)
    p.add_argument("--pos-weight", type=number_in(0, low_open=True), default=None,
                   help="the new phrase's examples per epoch, as a multiple of an average class's (default 3 "
                        "for a side branch, 2 with --whole)")
    p.add_argument("--hard-epochs", type=at_least(0), default=0,
                   help="epochs of a second phase on clips the new student confuses with the phrase")
    p.add_argument("--chatter", type=at_least(0), default=0,
                   help="everyday sentences read by synthetic voices, held at the current student's outputs "
                        "(running speech is not the new word; 0: none)")
    p.add_argument("--near-names", type=at_least(0), default=NEAR_VOICES,
                   help="voices each near-name of the phrase is said in (other words and names one or two "
                        "phonemes away, labelled by the teacher) as negatives; 0: none")
    p.add_argument("--no-speech", action="store_true",
                   help="leave the 1 s windows of read speech (librispeech_snippets under --data) out of the "
                        "rehearsal")
    p.add_argument("--no-found", action="store_true",
                   help="do not learn from the real clips under --data that the teacher hears as the phrase (by "
                        "default they join the synthetic voices as positives: real voices, labelled by nobody)")
    p.add_argument("--heard", default=None, metavar="DIR",
                   help="segments kept by 'assistant listen --keep-heard' (default: "
                        "~/.local/share/voice-assistant/heard): those the teacher "
                        "heard as the phrase are learnt as positives too ('': none)")
    p.add_argument("--offset-rate", type=number_in(0, 0.5), default=FIT_RATE,
                   help="raise the new word's logit as far as keeps at most this share (e.g. 0.005) of 1 s windows "
                        "of read speech by held-out speakers heard as it: more recall, and more false accepts on "
                        f"short phrases than read speech shows (default {FIT_RATE:g}: no offset; needs "
                        "librispeech_snippets under --data; docs/add-intent/README.md)")
    p.add_argument("--mel-shift", type=number_in(0, 8), default=DistillConfig.mel_shift,
                   help="shift each fine-tuning example up to this many mel bins up or down (0: off)")
    p.add_argument("--branch", type=at_least(0), default=None,
                   help=f"the new word is learnt by a side branch that splits from the student after this block "
                        f"(default: before its last stage, {BRANCH_AT} of the shipped student's 8 blocks): only the "
                        "branch trains, so every old output stays as it was (a student that already has branches "
                        "splits where they do)")
    p.add_argument("--whole", action="store_true",
                   help="fine-tune the whole student instead of a side branch (the old words drift a little; "
                        "docs/add-intent/README.md)")
    p.add_argument("--teacher", default="tiny.en")
    p.add_argument("--threads", type=at_least(1), default=2)
    p.add_argument("--data", default="../shared/data", help="real audio for rehearsal (train speakers) if present")
    p.add_argument("--student", default="speech_commands", help="registry name of the student to extend")
    p.add_argument("--registry", default=None, help="registry root (default: your models folder)")
    p.add_argument("--cache", default=None)
    p.add_argument("--run-dir", default=None, help="checkpoints (default: ~/.cache/voice-assistant/runs)")
    p.add_argument("--eval-old", action="append", default=[], help="labelled folder for the old classes")
    p.add_argument("--eval-new", action="append", default=[], help="folder of real recordings of the new phrase")
    p.add_argument("--eval-other", action="append", default=[], help="folder of other words (false accepts)")
    p.add_argument("--seed", type=at_least(0), default=0)
    p.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")


def parse(argv: list[str]) -> argparse.Namespace:
    """``training add-intent ARGV…`` as its subcommand reads it (add-intent's defaults for the rest)."""
    p = OneLineParser(prog="training add-intent")
    add_options(p)
    return p.parse_args(argv)
