"""Intent handlers over a simulated home; a registry maps intent names to functions that answer at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from .intents import IntentMatch

Handler = Callable[["Home", dict], str]
HANDLERS: dict[str, Handler] = {}


def handles(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for an intent name."""
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn
    return register


@dataclass
class Home:
    """The simulated home the assistant controls."""

    devices: dict[str, bool] = field(default_factory=lambda: {"lights": False})
    volume: int = 50
    playing: bool = False
    track: int = 1
    timers: list[float] = field(default_factory=list)
    """Minutes of each timer set."""
    pending_confirmation: str | None = None
    clock: Callable[[], dt.datetime] = dt.datetime.now


def answer(match: IntentMatch | None, home: Home) -> str:
    """The reply to a recognised intent (or the honest fallback)."""
    if match is None:
        return "Sorry, I didn't catch that."
    fn = HANDLERS.get(match.intent)
    if fn is None:
        return match.response or f"I understood {match.intent}, but I can't do that yet."
    return fn(home, match.slots)


def _power(home: Home, slots: dict, on: bool) -> str:
    name = str(slots.get("name", "lights"))
    home.devices[name] = on
    return f"Turned {'on' if on else 'off'} the {name}."


def _volume(home: Home, value: float) -> str:
    home.volume = int(max(0, min(100, value)))
    return f"Volume {home.volume}%."


@handles("HassTurnOn")
def turn_on(home: Home, slots: dict) -> str:
    return _power(home, slots, True)


@handles("HassTurnOff")
def turn_off(home: Home, slots: dict) -> str:
    return _power(home, slots, False)


@handles("VolumeUp")
def volume_up(home: Home, slots: dict) -> str:
    return _volume(home, home.volume + 10)


@handles("VolumeDown")
def volume_down(home: Home, slots: dict) -> str:
    return _volume(home, home.volume - 10)


@handles("SetVolume")
def set_volume(home: Home, slots: dict) -> str:
    return _volume(home, float(slots.get("volume", home.volume)))


@handles("MediaPlay")
def play(home: Home, slots: dict) -> str:
    home.playing = True
    return f"Playing track {home.track}."


@handles("MediaStop")
def stop(home: Home, slots: dict) -> str:
    home.playing = False
    return "Stopped."


@handles("MediaNext")
def next_track(home: Home, slots: dict) -> str:
    home.track += 1
    return f"Track {home.track}."


@handles("MediaPrevious")
def previous_track(home: Home, slots: dict) -> str:
    home.track = max(1, home.track - 1)
    return f"Track {home.track}."


@handles("SetTimer")
def set_timer(home: Home, slots: dict) -> str:
    minutes = float(slots.get("minutes", 1))
    home.timers.append(minutes)
    return f"Timer set for {minutes:g} minute{'' if minutes == 1 else 's'}."


@handles("GetTime")
def get_time(home: Home, slots: dict) -> str:
    return f"It is {home.clock():%H:%M}."


@handles("GetDate")
def get_date(home: Home, slots: dict) -> str:
    return f"Today is {home.clock():%A, %d %B %Y}."


@handles("Confirm")
def confirm(home: Home, slots: dict) -> str:
    what, home.pending_confirmation = home.pending_confirmation, None
    return f"Confirmed: {what}." if what else "Yes noted."


@handles("Deny")
def deny(home: Home, slots: dict) -> str:
    what, home.pending_confirmation = home.pending_confirmation, None
    return f"Cancelled: {what}." if what else "No noted."
