"""On-device runtime of the voice-command assistant (never imports ``training``)."""

__version__ = "0.1.0"
