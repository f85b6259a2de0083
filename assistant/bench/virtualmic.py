"""A headless virtual microphone: a private PulseAudio daemon whose default source plays what you feed it.

Used by the tests and by ``assistant bench`` (start-up time) on machines without a real microphone; the
runtime never needs it, so it lives with the benchmarks.
Needs the ``pulseaudio`` and ``pulseaudio-utils`` packages (``./setup.sh test`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path


def available() -> bool:
    """Whether the PulseAudio daemon and its client tools are installed."""
    return all(shutil.which(t) for t in ("pulseaudio", "paplay", "parec"))


class VirtualMic:
    """A PulseAudio daemon in ``folder`` with a virtual microphone; ``env`` is what clients need."""

    def __init__(self, folder: Path) -> None:
        self.dir = Path(folder)
        self.conf = self.dir / "pa.conf"
        self.conf.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.dir}/native\n"
            "load-module module-null-sink sink_name=speaker\n"
            "load-module module-null-sink sink_name=micfeed rate=16000 channels=1 format=s16le\n"
            "load-module module-virtual-source source_name=mic master=micfeed.monitor\n"
            "set-default-sink speaker\nset-default-source mic\n")
        self.env = {**os.environ, "HOME": str(self.dir), "XDG_RUNTIME_DIR": str(self.dir),
                    "PULSE_SERVER": f"unix:{self.dir}/native"}
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "VirtualMic":
        """Start the daemon (and a reader that keeps the idle null sink moving); returns self."""
        (self.dir / "native").unlink(missing_ok=True)
        self.procs.append(subprocess.Popen(
            ["pulseaudio", "-n", f"--file={self.conf}", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
             "--realtime=no", "--high-priority=no"], env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        deadline = time.time() + 15
        while not (self.dir / "native").exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        # an idle null sink renders in 2 s blocks; a low-latency reader keeps it moving
        self.procs.append(subprocess.Popen(["parec", "--latency-msec=20", "-d", "micfeed.monitor"], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return self

    def play(self, path: Path, wait: bool = True) -> subprocess.Popen:
        """Speak a sound file into the microphone."""
        p = subprocess.Popen(["paplay", "--device=micfeed", str(path)], env=self.env)
        if wait:
            p.wait(timeout=120)
        return p

    def stop(self) -> None:
        """Stop everything this microphone started."""
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []

    def __enter__(self) -> "VirtualMic":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
