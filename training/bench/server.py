"""``training bench-server``: the teacher server (``assistant serve-teacher``, a real subprocess) under load from
simulated devices on the same machine, its limits, and a crash (SIGKILL, restart on the same port). Sends are plain
urllib POSTs so that every status is counted (:class:`assistant.remote.RemoteTeacher` fails fast after a failure)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np

from assistant.audio import load_audio
from assistant.bench.measure import machine, stats
from assistant.intents import IntentSet
from assistant.loop import Assistant
from assistant.registry import Registry
from assistant.remote import RemoteTeacher, _multipart, wav_bytes
from assistant.student import Student

from .assistant import fmt_ms, write_report

CLIENT_TIMEOUT_S = 15.0  # every request's client timeout (s): past the server's deadline, so a 504 comes first
HUNG_S = 30.0  # a client thread still running this long (s) after its phase ended is hung
RETRY_CAP_S, DOWN_PAUSE_S = 2.0, 0.5  # sleep (s): at most this for a 429's Retry-After; after a failed connection
MARGIN_S = 0.3  # audio kept each side of a session request (s)
KILL_AT_S, RESTART_AFTER_S, FAULT_S = 6.0, 3.0, 20.0  # fault phase: kill, restart after the kill, least length (s)
PATHS = {"command": "/v1/audio/transcriptions", "intent": "/v1/intent"}
_OPEN = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
Clips = dict[str, list[tuple[bytes, str]]]  # by kind (command | intent): (multipart body, content type) to POST


def load_clips(samples: Path) -> tuple[Clips, np.ndarray]:
    """Bodies: ``command``, every clip of commands/*/; ``intent``, the session's whole requests; and the session."""
    out = {"command": [_multipart({"model": "whisper-1", "response_format": "verbose_json"}, wav_bytes(
        load_audio(p).samples)) for p in sorted((samples / "commands").glob("*/*.flac"))]}
    audio = load_audio(samples / "session" / "session.flac", max_seconds=None).samples
    script = json.loads((samples / "session" / "session.json").read_text())["utterances"]
    out["intent"] = [_multipart({}, wav_bytes(audio[int((u["start_s"] - MARGIN_S) * 16000):int(
        (u["end_s"] + MARGIN_S) * 16000)])) for u in script if not u["command"]]
    return out, audio


def post(url: str, path: str, clip: tuple[bytes, str], token: str | None) -> tuple[int | str, float, str]:
    """(HTTP status, or unreachable | timeout | disconnected; seconds; Retry-After or the error's detail)."""
    headers = {"Content-Type": clip[1], **({"Authorization": f"Bearer {token}"} if token is not None else {})}
    t = time.monotonic()
    try:
        with _OPEN.open(urllib.request.Request(url + path, clip[0], headers), timeout=CLIENT_TIMEOUT_S) as r:
            r.read()
            return r.status, time.monotonic() - t, ""
    except urllib.error.HTTPError as e:
        extra = e.headers.get("Retry-After", "") if e.code == 429 else e.read().decode(errors="replace")[:200]
        return e.code, time.monotonic() - t, extra
    except Exception as e:  # noqa: BLE001 - every failure is an outcome to count
        why = getattr(e, "reason", e)
        return ("unreachable" if isinstance(why, ConnectionRefusedError) else "timeout" if isinstance(
            why, TimeoutError) else "disconnected"), time.monotonic() - t, f"{type(why).__name__}: {why}"


class Server:
    """``serve-teacher`` on a free loopback port; ``rss``: (s since start, MB) of its VmRSS every 0.5 s."""

    def __init__(self, args: argparse.Namespace) -> None:
        with socket.create_server(("127.0.0.1", 0)) as s:
            port = s.getsockname()[1]
        self.url, self.token = f"http://127.0.0.1:{port}", np.random.default_rng().bytes(16).hex()
        self.cmd = [sys.executable, "-m", "assistant.cli", "serve-teacher", "--port", str(port), "--threads",
                    str(args.threads), "--token", self.token, "--max-queue", str(args.max_queue), "--max-batch",
                    str(args.max_batch), "--deadline", str(args.deadline), "--max-mb", str(args.max_mb)]
        self.proc: subprocess.Popen | None = None
        self.t0, self.done, self.log = time.monotonic(), threading.Event(), tempfile.TemporaryFile("a+")  # stderr
        self.rss: list[tuple[float, float]] = []
        threading.Thread(target=self._sample, daemon=True).start()

    def start(self) -> float:
        """Spawn and wait (up to 90 s) for ``GET /health``; returns the seconds it took (loading is ~15 s)."""
        t = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        while time.monotonic() < t + 90 and self.proc.poll() is None:
            try:
                _OPEN.open(self.url + "/health", timeout=1).read()
                return time.monotonic() - t
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"serve-teacher: no /health in 90 s: {(self.log.seek(0) or self.log.read())[-2000:]}")

    def stop(self, crash: bool = False) -> None:
        """SIGKILL (``crash``, as the OOM killer would), else terminate, then kill if it lingers past 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            (self.proc.kill if crash else self.proc.terminate)()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
            self.proc.kill()  # a no-op if it has exited
            self.proc.wait()

    def _sample(self) -> None:
        while not self.done.wait(0.5):
            with contextlib.suppress(OSError, StopIteration):  # between processes, or just gone
                if (p := self.proc) is not None and p.poll() is None:
                    kb = next(int(line.split()[1]) for line in Path(f"/proc/{p.pid}/status").read_text().splitlines()
                              if line.startswith("VmRSS:"))
                    self.rss.append((time.monotonic() - self.t0, kb / 1024))


class Load:
    """``clients`` device threads posting seeded picks until ``end`` (monotonic s; may be moved); ``records``."""

    def __init__(self, url: str, token: str | None, clips: Clips, clients: int, seconds: float, share: float,
                 seed: int) -> None:
        self.t0, self.lock, self.records = time.monotonic(), threading.Lock(), []  # t, latency_s, status, kind
        self.end = self.t0 + seconds
        self.threads = [threading.Thread(target=self._client, daemon=True, args=(
            url, token, clips, share, np.random.default_rng([seed, clients, i]))) for i in range(clients)]
        for t in self.threads:
            t.start()

    def _client(self, url: str, token: str | None, clips: Clips, share: float, rng: np.random.Generator) -> None:
        while time.monotonic() < self.end:
            kind = "intent" if rng.random() < share else "command"
            status, dt, extra = post(url, PATHS[kind], clips[kind][int(rng.integers(len(clips[kind])))], token)
            with self.lock:
                self.records.append(dict(t=time.monotonic() - dt - self.t0, latency_s=dt, status=status, kind=kind))
            if status == 429:
                time.sleep(min(RETRY_CAP_S, float(extra) if extra.replace(".", "", 1).isdigit() else 1.0))
            elif not isinstance(status, int):
                time.sleep(DOWN_PAUSE_S)

    def join(self) -> tuple[float, int]:
        """Wait for the clients: (seconds from start to the last one done, threads hung past ``HUNG_S``)."""
        limit = max(self.end, time.monotonic()) + HUNG_S
        for t in self.threads:
            t.join(max(0.0, limit - time.monotonic()))
        return time.monotonic() - self.t0, sum(t.is_alive() for t in self.threads)


def summarize(records: list[dict], seconds: float) -> dict:
    """Sends, answers by status, throughput (answered/s) and latency of the answered (ms), overall and per kind."""
    def part(rs: list[dict]) -> dict:
        s = stats([r["latency_s"] * 1000 for r in rs if r["status"] == 200])
        return {"sends": len(rs), "answered": s["n"], "p50_ms": s["median"], "p95_ms": s["p95"]}
    by = Counter(str(r["status"]) for r in records)
    return {**part(records), "seconds": seconds, "by_status": dict(by), "rejected_429": by["429"],
            "errors": sum(n for k, n in by.items() if k not in ("200", "429")), "throughput_per_s": by["200"] / seconds,
            "per_kind": {k: part([r for r in records if r["kind"] == k]) for k in PATHS}}


def batches(url: str) -> Counter:
    """``teacher_batches_total`` by batch size, from ``GET /metrics``."""
    return Counter({line.split('"')[1]: int(float(line.split()[-1])) for line in _OPEN.open(
        url + "/metrics", timeout=10).read().decode().splitlines() if line.startswith("teacher_batches_total{")})


def memory(rss: list[tuple[float, float]], a: float = 0.0, b: float = float("inf")) -> dict:
    """Server RSS (MB) first and last in [a, b] (s since the run's start), and its maximum."""
    xs = [mb for t, mb in rss if a <= t <= b]
    return {"start": xs[0], "end": xs[-1], "max": max(xs)} if xs else {"start": None, "end": None, "max": None}


def fault(args: argparse.Namespace, srv: Server, clips: Clips, audio: np.ndarray) -> dict:
    """4 clients; SIGKILL at 6 s, restart 3 s later on the same port; meanwhile the session through a device loop."""
    bot = Assistant(Student(Registry().path()), IntentSet.load(), RemoteTeacher(srv.url, 5.0, srv.token).understand)
    load = Load(srv.url, srv.token, clips, 4, FAULT_S, args.requests_share, args.seed + 1)
    time.sleep(KILL_AT_S)
    kill, rss_before, load.end = time.monotonic() - load.t0, srv.rss[-1][1] if srv.rss else None, float("inf")
    srv.stop(crash=True)
    ev = [e for e in bot.feed_all(audio, 320) if e.decision.action.value != "IGNORE"]  # the loop, server down
    dev = {"events": len(ev), "answered_by_student": sum(e.answered_by == "student" for e in ev),
           "teacher_unavailable": sum("teacher is unavailable" in (e.answer or "") for e in ev),
           "answers": [f"{e.answered_by}: {e.answer}" for e in ev]}
    time.sleep(max(0.0, load.t0 + kill + RESTART_AFTER_S - time.monotonic()))
    restart, reload_s = time.monotonic() - load.t0, srv.start()
    load.end = load.t0 + max(FAULT_S, (up := restart + reload_s) + 3.0)  # send until the server has been up 3 s
    seconds, hung = load.join()  # the outage ends at the first send answered (health polls lag a little)
    back = min([up, *(r["t"] for r in load.records if r["t"] >= restart and isinstance(r["status"], int))])
    outage = Counter(str(r["status"]) for r in load.records if kill <= r["t"] < back)
    after = [r["t"] + r["latency_s"] for r in load.records if r["status"] == 200 and r["t"] >= restart]
    return {"clients": 4, "seconds": seconds, "kill_s": kill, "restart_s": restart, "back_s": back,
            "reload_s": reload_s, "sends_during_outage": sum(outage.values()), "outage_outcomes": dict(outage),
            "hung_threads": hung, "restart_to_first_200_s": min(after) - restart if after else None,
            "rss_before_kill_mb": rss_before, "rss_after_restart_mb": memory(srv.rss, load.t0 - srv.t0 + back),
            "device_loop": dev, "whole_phase": summarize(load.records, seconds), "offset_s": load.t0 - srv.t0}


def bench_server(args: argparse.Namespace) -> int:
    """Load levels, checks and (own server only) the fault phase; writes the report, JSON and plot."""
    clips, session = load_clips(Path(args.samples))
    srv = None if args.url else Server(args)
    url, token = (args.url.rstrip("/"), args.token) if srv is None else (srv.url, srv.token)
    rss, restart, levels, t_run = srv.rss if srv else [], None, [], srv.t0 if srv else time.monotonic()
    try:
        if srv is not None:
            print(f"== starting serve-teacher on {srv.url}\n   healthy after {srv.start():.1f} s", flush=True)
        health = json.loads(_OPEN.open(url + "/health", timeout=10).read())
        for kind in PATHS:  # warm-up, not counted
            post(url, PATHS[kind], clips[kind][0], token)
        for c in [int(x) for x in args.clients.split(",")]:
            before = batches(url)
            load = Load(url, token, clips, c, args.seconds, args.requests_share, args.seed)
            seconds, hung = load.join()
            lv = {"clients": c, **summarize(load.records, seconds), "hung_threads": hung, "load_1m": os.getloadavg()[0],
                  "batch_sizes": dict(sorted((batches(url) - before).items(), key=lambda kv: int(kv[0]))),
                  "span_s": [load.t0 - t_run, load.t0 - t_run + seconds]}
            levels.append({**lv, "memory_mb": memory(rss, *lv["span_s"])})
            print(f"   {c:>3} clients: {lv['by_status']}, {lv['throughput_per_s']:.2f}/s, p50 {fmt_ms(lv['p50_ms'])}, "
                  f"p95 {fmt_ms(lv['p95_ms'])}", flush=True)
        print("== checks: no token, wrong token, a body 1 MiB over the server's limit, not audio", flush=True)
        checks = {k: post(url, PATHS["command"], body, t) for k, body, t in (
            ("no_token", clips["command"][0], None), ("wrong_token", clips["command"][0], f"wrong-{token}"),
            ("too_large", _multipart({}, np.random.default_rng(0).bytes(int(health["max_bytes"]) + 2**20)), token),
            ("malformed", _multipart({}, b"not audio"), token))}
        if srv is not None and not args.no_restart:
            print("== fault phase: 4 clients, SIGKILL, restart on the same port, a device loop meanwhile", flush=True)
            restart = fault(args, srv, clips, session)
    finally:
        if srv is not None:
            srv.done.set()
            srv.stop()
    by = {lv["clients"]: lv["throughput_per_s"] for lv in levels}
    out = {"machine": machine(), "teacher": health.get("teacher"),
           "server": {**{k: getattr(args, k) for k in ("url", "threads", "max_queue", "max_batch", "deadline", "max_mb",
                                                       "clients", "seconds", "requests_share", "seed")},
                      "client_timeout_s": CLIENT_TIMEOUT_S, "health": health,
                      "log_tracebacks": (srv.log.seek(0) or srv.log.read()).count("Traceback") if srv else None},
           "levels": levels, "throughput_ratio_4_vs_1": by[4] / by[1] if by.get(1) and 4 in by else None,
           "memory_mb": {"overall": memory(rss), "per_level": {str(lv["clients"]): lv["memory_mb"] for lv in levels}},
           "checks": {k: v[0] for k, v in checks.items()}, "checks_detail": {k: v[2] for k, v in checks.items()},
           "restart": restart, "rss_timeline": [[round(t, 2), round(mb, 1)] for t, mb in rss],
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_report(args, "bench-server", report_lines(out, len(clips["command"]), len(clips["intent"])), out)
    plot(out, Path(args.report_dir) / "bench-server.png")
    return 0


def report_lines(out: dict, commands: int, requests: int) -> list[str]:
    """The Markdown report: the levels' table, latency per kind, batches, checks, the restart, clips and machine."""
    def n(x: float | None) -> str:
        return "–" if x is None else f"{x:.0f}"
    s, m, r, lvs = out["server"], out["machine"], out["restart"], out["levels"]
    lines = [f"# Teacher server under load\n\n{out['teacher']}, --threads {s['threads']} --max-queue {s['max_queue']} "
             f"--max-batch {s['max_batch']} --deadline {s['deadline']:g}; {s['seconds']:g} s a level, "
             f"{s['requests_share']:.0%} of sends whole requests. Load average (1 min, this run included) after each "
             "level: "
             + ", ".join(f"{lv['load_1m']:.1f}" for lv in lvs) + ".\n",
             "| clients | sends | answered | 429 | other errors | throughput/s | p50 ms | p95 ms | RSS MB | "
             "command / request p50, p95 ms | encoder batches (size: n) |", "|---" * 11 + "|"]
    lines += [f"| {lv['clients']} | {lv['sends']} | {lv['answered']} | {lv['rejected_429']} | {lv['errors']} | "
              f"{lv['throughput_per_s']:.2f} | {n(lv['p50_ms'])} | {n(lv['p95_ms'])} | {n(lv['memory_mb']['max'])} | "
              + " / ".join(f"{n(v['p50_ms'])}, {n(v['p95_ms'])}" for v in lv["per_kind"].values())
              + f" | {lv['batch_sizes']} |" for lv in lvs]
    ratio = out["throughput_ratio_4_vs_1"]
    lines += [(f"\nThroughput 4 clients / 1 client: {ratio:.2f}. " if ratio else "\n") + "Checks: "
        + ", ".join(f"{k} → {v}" for k, v in out["checks"].items())
        + f" (not audio: `{out['checks_detail']['malformed']}`).\n"]
    if r:
        d, a, first = r["device_loop"], r["rss_after_restart_mb"], r["restart_to_first_200_s"]
        lines.append(
            f"Restart (4 clients): SIGKILL at {r['kill_s']:.1f} s, restarted at {r['restart_s']:.1f} s, healthy "
            f"{r['reload_s']:.1f} s later, first 200 {'never' if first is None else f'{first:.1f} s'} after the "
            f"restart; sends during the outage {r['outage_outcomes']}, whole phase {r['whole_phase']['by_status']}; "
            f"hung threads {r['hung_threads']}; RSS {n(r['rss_before_kill_mb'])} MB before, {n(a['start'])} after "
            f"(max {n(a['max'])}). A device loop fed the session after the kill: {d['answered_by_student']} of "
            f"{d['events']} answered by the student, {d['teacher_unavailable']} \"The teacher is unavailable\".\n")
    return lines + [f"Clips: the {commands} clips of `audio_samples/commands` to /v1/audio/transcriptions, the "
                    f"session's {requests} whole requests (±{MARGIN_S:g} s) to /v1/intent. Clients run on the "
                    f"server's machine: {m['cpu']}, {m['cores']} cores."]


def plot(out: dict, path: Path) -> None:
    """Latency and throughput against clients; server RSS over the whole run, kill and restart marked."""
    import matplotlib.pyplot as plt
    plt.switch_backend("Agg")
    lv, r, cs = out["levels"], out["restart"], [x["clients"] for x in out["levels"]]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for key, style in (("p50_ms", "o-"), ("p95_ms", "s--")):
        ax[0].plot(cs, [x[key] or np.nan for x in lv], style, label=key[:3])
    ax[1].plot(cs, [x["throughput_per_s"] for x in lv], "o-")
    for a, title in zip(ax, ("latency of answered (ms)", "answered per second")):
        a.set(xscale="log", xticks=cs, xticklabels=cs, xlabel="clients", title=title, ylim=(0, None))
    ax[2].plot(*(zip(*out["rss_timeline"]) if out["rss_timeline"] else ([], [])), "-")
    for i, x in enumerate(lv):
        ax[2].axvspan(*x["span_s"], color=f"C{i + 4}", alpha=0.15, label=f"{x['clients']} clients")
    for k, c in (("kill", "red"), ("restart", "green"), ("back", "blue")) if r else ():
        ax[2].axvline(r["offset_s"] + r[f"{k}_s"], color=c, ls="--", label=k)
    ax[2].set(xlabel="s since the server's start", title="server RSS (MB)")
    for a in ax:
        a.grid(alpha=0.3)
        a.legend() if a.get_legend_handles_labels()[0] else None
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
