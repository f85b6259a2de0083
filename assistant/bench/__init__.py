"""Benchmarks of the on-device side: ``assistant bench`` and the measurement helpers ``training`` shares.

A package of its own so the runtime modules (loop, student, microphone) never import it: ``run`` is the
command, ``worker`` one engine in its own process, ``report`` the Markdown and plots, ``measure`` timing
and memory, ``virtualmic`` a headless PulseAudio microphone for the start-up figure and the tests.
"""
