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


_NOUN = {"light": "lights", "fan": "fan", "cover": "covers", "switch": "switches", "media_player": "players",
         "climate": "thermostat", "lock": "locks", "valve": "valves"}


def target(slots: dict) -> str:
    """The device a request names: its ``name``, else the ``domain`` in an ``area`` or ``floor`` (Home
    Assistant's slot combinations: "turn on the kitchen lights" -> area kitchen, domain light)."""
    if slots.get("name"):
        return str(slots["name"])
    where = slots.get("area") or slots.get("floor")
    what = _NOUN.get(str(slots.get("device_class") or slots.get("domain") or "light"),
                     str(slots.get("device_class") or slots.get("domain")))
    return f"{where} {what}" if where else what


def _power(home: Home, slots: dict, on: bool) -> str:
    name = target(slots)
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


# Home Assistant's intents (the default home domain reads its sentence library): same home, its slot names.

def _duration(slots: dict) -> float:
    """Minutes of a ``HassStartTimer`` request (hours, minutes, seconds slots)."""
    return float(slots.get("hours") or 0) * 60 + float(slots.get("minutes") or 0) + float(slots.get("seconds") or 0) / 60


@handles("HassStartTimer")
def start_timer(home: Home, slots: dict) -> str:
    minutes = _duration(slots) or 1.0
    home.timers.append(minutes)
    if minutes < 1:
        return f"Timer set for {minutes * 60:g} seconds."
    return f"Timer set for {minutes:g} minute{'' if minutes == 1 else 's'}."


@handles("HassCancelTimer")
@handles("HassCancelAllTimers")
def cancel_timers(home: Home, slots: dict) -> str:
    n, home.timers = len(home.timers), []
    return f"Cancelled {n} timer{'' if n == 1 else 's'}." if n else "No timer is running."


@handles("HassTimerStatus")
def timer_status(home: Home, slots: dict) -> str:
    if not home.timers:
        return "No timer is running."
    return "Timers: " + ", ".join(f"{m:g} min" for m in home.timers) + "."


@handles("HassSetVolume")
def ha_set_volume(home: Home, slots: dict) -> str:
    return _volume(home, float(slots.get("volume_level", home.volume)))


@handles("HassSetVolumeRelative")
def ha_volume_step(home: Home, slots: dict) -> str:
    step = slots.get("volume_step", "up")
    delta = {"up": 10, "down": -10}.get(str(step))
    return _volume(home, home.volume + (delta if delta is not None else float(step)))


@handles("HassLightSet")
def light_set(home: Home, slots: dict) -> str:
    name = target({**slots, "domain": "light"})
    if "brightness" in slots:
        home.devices[name] = float(slots["brightness"]) > 0
        return f"The {name} are at {float(slots['brightness']):g}%."
    return f"Set the {name} to {slots.get('color') or slots.get('temperature') or 'that'}."


@handles("HassGetState")
def get_state(home: Home, slots: dict) -> str:
    name = target(slots)
    if name not in home.devices:
        return f"I don't know the state of the {name}."
    return f"The {name} {'is' if not name.endswith('s') else 'are'} {'on' if home.devices[name] else 'off'}."


@handles("HassGetWeather")
def weather(home: Home, slots: dict) -> str:
    return "I have no weather source in this home."


@handles("HassNevermind")
def nevermind(home: Home, slots: dict) -> str:
    home.pending_confirmation = None
    return "OK."


for _ours, _theirs in (("MediaPlay", "HassMediaUnpause"), ("MediaStop", "HassMediaPause"), ("MediaNext", "HassMediaNext"),
                       ("MediaPrevious", "HassMediaPrevious"), ("GetTime", "HassGetCurrentTime"),
                       ("GetDate", "HassGetCurrentDate")):
    HANDLERS[_theirs] = HANDLERS[_ours]
