"""Labelling speed on one machine: one process vs a local Ray instance with 1..N teacher actors (docs/cluster.md).

``python -m training.bench.cluster DIR [--clips 100] [--backend transformers] [--json FILE]``. Each row labels
the same clips into a fresh cache. This process and every process below it (Ray's own, its workers) are
sampled every 0.2 s: peak PSS (shared pages split between the processes that map them: the honest total),
peak RSS sum, and CPU seconds (the teacher actors' apart). CPU seconds per clip hold on a busy machine,
where wall-clock rates do not; the 1-minute load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from assistant.labelset import load_labelset

from ..corpus import find_clips

TICK = os.sysconf("SC_CLK_TCK")


def _tree() -> dict[int, tuple[int, int, float, bool]]:
    """pid -> (PSS bytes, RSS bytes, CPU seconds, is a teacher actor) for this process and its descendants."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            parent[pid], cpu[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, ValueError, IndexError):
            continue
    me, out = os.getpid(), {}
    for pid in parent:
        p = pid
        while p != me and p in parent and p > 1:
            p = parent[p]
        if p != me:
            continue
        try:
            mem = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in
                   Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]) if k in ("Pss", "Rss")}
            actor = b"Labeller" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        out[pid] = (mem.get("Pss", 0), mem.get("Rss", 0), cpu[pid], actor)
    return out


class Monitor:
    """Samples :func:`_tree` in a thread: peak PSS and RSS (bytes), CPU seconds per process (last seen)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.pss, self.rss, self._stop = every, 0, 0, threading.Event()
        self.cpu: dict[int, tuple[float, bool]] = {}
        self._cpu0 = sum(c for _, _, c, _ in _tree().values())  # what this process had used before
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = _tree()
            self.pss = max(self.pss, sum(t[0] for t in tree.values()))
            self.rss = max(self.rss, sum(t[1] for t in tree.values()))
            self.cpu.update({pid: (t[2], t[3]) for pid, t in tree.items()})
            self._stop.wait(self.every)

    def figures(self) -> dict:
        """Peak memory (MB), CPU seconds of the whole tree and of the teacher actors."""
        return {"peak_pss_mb": self.pss / 2**20, "peak_rss_mb": self.rss / 2**20,
                "cpu_s": sum(c for c, _ in self.cpu.values()) - self._cpu0,
                "actor_cpu_s": sum(c for c, actor in self.cpu.values() if actor)}

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench(folder: Path, clips: int, backend: str, actors: list[int], batch_size: int) -> list[dict]:
    """One row per setting: wall seconds, clips/s, time to the first stored label, memory, CPU seconds."""
    import ray

    from assistant.teacher import load_teacher

    from ..cache import LabelCache
    from ..cluster import label_clips_ray
    from ..label import label_clips

    every = find_clips([folder])
    chosen = every[:: max(1, len(every) // clips)][:clips]  # spread over the label folders
    label_set = load_labelset("speech_commands")
    spec = {"model": "tiny.en", "backend": backend}
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    load0 = os.getloadavg()[0]
    with Monitor() as mon:
        t0 = time.perf_counter()
        teacher = load_teacher(**spec, threads=os.cpu_count())
        run = label_clips(chosen, teacher, label_set, LabelCache(tmp / "one.sqlite"), batch_size=batch_size,
                          progress=False)
        wall = time.perf_counter() - t0
    rows.append({"setting": f"one process, {os.cpu_count()} threads", "clips": run.new, "wall_s": wall,
                 "label_s": run.wall_seconds, "clips_per_s": run.new / run.wall_seconds, **mon.figures(),
                 "load_1min": [load0, os.getloadavg()[0]]})
    teacher_id = teacher.id
    del teacher
    for n in actors:
        cache = LabelCache(tmp / f"ray{n}.sqlite")
        puts: list[tuple[float, int]] = []  # (time, rows) of each commit
        put = cache.put_many

        def timed_put(rows_: list, *a: str, _put=put, _puts=puts) -> None:
            _put(rows_, *a)
            _puts.append((time.perf_counter(), len(rows_)))

        cache.put_many = timed_put  # type: ignore[method-assign]
        load0 = os.getloadavg()[0]
        with Monitor() as mon:
            t0 = time.perf_counter()
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            init_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            run = label_clips_ray(chosen, {**spec, "threads": 1}, label_set, cache, teacher_id=teacher_id, actors=n,
                                  batch_size=batch_size, progress=False)
            wall = time.perf_counter() - t0
            time.sleep(0.5)  # a last sample of the actors' CPU before they go
            ray.shutdown()
        rows.append({"setting": f"Ray, {n} actor{'s' * (n > 1)} x 1 thread", "clips": run.new, "wall_s": wall,
                     "ray_init_s": init_s, "first_label_s": puts[0][0] - t1 if puts else None,
                     "label_s": run.wall_seconds, "clips_per_s": run.new / run.wall_seconds,
                     # after the first batch: the rate once the actors are up (what a long job runs at)
                     "steady_clips_per_s": sum(k for _, k in puts[1:]) / (puts[-1][0] - puts[0][0])
                     if len(puts) > 1 else None, **mon.figures(), "load_1min": [load0, os.getloadavg()[0]]})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: print one JSON row per setting (and write them to ``--json``)."""
    ap = argparse.ArgumentParser(prog="python -m training.bench.cluster", description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--backend", default="transformers", choices=("transformers", "ctranslate2"))
    ap.add_argument("--actors", default="1,2", help="comma-separated actor counts")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rows = bench(args.folder, args.clips, args.backend, [int(a) for a in args.actors.split(",")], args.batch_size)
    for r in rows:
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}))
    if args.json:
        args.json.write_text(json.dumps({"backend": args.backend, "rows": rows, "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
