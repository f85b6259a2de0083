"""The ``assistant bench`` report: the closing summary, the targets met or not, Markdown and PNG plots.

Kept apart from the measuring (:mod:`assistant.bench.run`): it only reads the figures a run collected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plots(out: dict, folder: Path) -> dict:
    """Latency histogram per engine, end-to-end stage bars, accuracy-vs-latency; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}

    def save(fig, name: str) -> str:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        return name

    rows = [r for r in out["student"] if "window_samples_ms" in r]
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4))
        hi = max(np.percentile(r["window_samples_ms"], 99) for r in rows)
        bins = np.linspace(0, hi * 1.05, 60)
        for r in rows:
            ax.hist(np.clip(r["window_samples_ms"], 0, bins[-1]), bins=bins, alpha=0.55,
                    label=f"{r['engine']}, {r['threads']} thr (p50 {r['window_ms']['median']:.2f} ms)")
        ax.set_xlabel("ms per 1 s window")
        ax.set_ylabel("runs")
        ax.set_title("Student latency per window")
        ax.legend(fontsize=7)
        files["student_latency"] = save(fig, "bench-student-latency.png")
    e2e = out.get("end_to_end", {})
    if e2e.get("stages_per_hop_ms"):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        st = e2e["stages_per_hop_ms"]
        names = [k for k in ("buffer", "gate", "student", "decision", "handler") if k in st]
        a1.barh(names, [st[k]["mean"] for k in names], color="tab:blue")
        a1.set_xlabel("ms per hop (mean)")
        a1.set_title("Loop compute per stage")
        resp = [r["response_ms"] for r in e2e["utterances"] if r.get("answered_by") == "student"]
        dfr = [r["response_ms"] for r in e2e["utterances"] if r.get("answered_by") == "teacher"]
        a2.hist([resp, dfr], bins=20, label=["local (student)", "deferral (teacher)"], color=["tab:green", "tab:orange"])
        a2.set_xlabel("end of speech -> answer (ms)")
        a2.set_title("Response time, real-time session")
        a2.legend(fontsize=8)
        files["end_to_end"] = save(fig, "bench-end-to-end.png")
    pts = [(r["name"], r["clip_ms"], r["accuracy"]) for r in out["summary"] if r.get("accuracy") is not None]
    if pts:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for name, ms, acc in pts:
            ax.scatter(ms, acc * 100)
            ax.annotate(name, (ms, acc * 100), fontsize=7, xytext=(4, 2), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("ms per clip (median, log scale)")
        ax.set_ylabel(f"accuracy on the same {out['clips']['sample_clips']} clips (%)")
        ax.set_title("Student vs teacher vs pocketsphinx")
        files["accuracy_latency"] = save(fig, "bench-accuracy-latency.png")
    return files


def summary_rows(out: dict) -> list[dict]:
    """The closing table: one row per engine scored on the clips."""
    rows = []
    for r in out["student"]:
        if "accuracy" in r:
            rows.append({"name": f"student {r['engine']}", "accuracy": r["accuracy"],
                         "accuracy_all": r.get("accuracy_all"), "clip_ms": r["clip_ms"]["median"],
                         "size_bytes": r["size_bytes"], "peak_rss_mb": r["peak_rss_mb"], "threads": r["threads"]})
    for r in out["teachers"]:
        if "accuracy" in r:
            rows.append({"name": f"teacher {r['model']} {r['backend']}", "accuracy": r["accuracy"],
                         "accuracy_all": r.get("accuracy_all"),
                         "clip_ms": r["clip_ms"]["median"], "size_bytes": r["size_bytes"],
                         "peak_rss_mb": r["peak_rss_mb"], "threads": r["threads"]})
    p = out.get("pocketsphinx", {})
    if "accuracy" in p:
        rows.append({"name": "pocketsphinx (grammar)", "accuracy": p["accuracy"], "accuracy_all": p.get("accuracy_all"),
                     "clip_ms": p["clip_ms"]["median"],
                     "size_bytes": p["size_bytes"], "peak_rss_mb": p["peak_rss_mb"], "threads": 1})
    return rows


def targets(out: dict) -> dict:
    """The issue's targets, computed from the measured rows."""
    rows = {r["name"]: r for r in out["summary"]}
    s = rows.get("student ORT fp32")
    teachers = [r for n, r in rows.items() if n.startswith("teacher")]
    ps = rows.get("pocketsphinx (grammar)")
    res: dict = {}
    if s and teachers:
        fastest = min(teachers, key=lambda r: r["clip_ms"])
        res["speedup_vs_fastest_teacher"] = {"teacher": fastest["name"], "x": fastest["clip_ms"] / s["clip_ms"],
                                             "target": 200, "met": fastest["clip_ms"] / s["clip_ms"] >= 200}
    if s and ps:  # on every clip where both scored them all (the larger, steadier figure), else the sample
        full = s["accuracy_all"] is not None and ps["accuracy_all"] is not None
        key = "accuracy_all" if full else "accuracy"
        d = (s[key] - ps[key]) * 100
        res["points_over_pocketsphinx"] = {"points": d, "on": "all clips" if full else "sample", "target": 20,
                                           "met": d >= 20, "points_on_sample": (s["accuracy"] - ps["accuracy"]) * 100}
    res["bench_seconds"] = {"seconds": out["seconds"], "target": 300, "met": out["seconds"] <= 300}
    return res


def markdown(out: dict) -> str:
    """The human report."""
    m, c = out["machine"], out["clips"]
    L = [f"# assistant bench\n\nMachine: {m['cpu']}, {m['cores']} cores ({m['platform']}); device profile "
         f"**{out['profile']['profile']}**" + (" (pinned to one core, 1 thread)" if out["profile"]["profile"] == "small"
                                               else "") + f". Took {out['seconds']:.0f} s.\n",
         f"Clips: {c['source']}: {c['clips']} clips, {c['speakers']} speakers; the student and pocketsphinx score "
         f"them all, every engine scores a balanced sample of {c['sample_clips']} "
         f"(up to {out['per_class']} per class, {c['sample_speakers']} speakers).\n",
         "## Student, per 1 s window\n", "| engine | threads | p50 ms | p95 ms | p99 ms | size | peak RSS |",
         "|---|---|---|---|---|---|---|"]
    for r in out["student"]:
        if "error" in r:
            L.append(f"| {r['engine']} | {r.get('threads', '-')} | {r['error']} | | | | |")
        else:
            w = r["window_ms"]
            L.append(f"| {r['engine']} | {r['threads']} | {w['median']:.3f} | {w['p95']:.3f} | {w['p99']:.3f} | "
                     f"{r['size_bytes'] / 1024:.0f} KB | {r['peak_rss_mb']:.0f} MB |")
    s = out.get("startup", {})
    L += ["\n## Start-up of `assistant listen`\n",
          s["error"] if "error" in s else
          f"Launch -> ready (models loaded, microphone open): **{s['ready_s']:.2f} s**; launch -> first decision on a "
          f"{s['command_s']:.2f} s command played at ready: **{s['first_decision_s']:.2f} s** ({s['microphone']})."
          if s.get("first_decision_s") is not None else f"Launch -> ready: {s.get('ready_s', float('nan')):.2f} s; "
          "no decision was taken on the command."]
    e = out.get("end_to_end", {})
    if e and "error" not in e:
        loc, dfr = e["local"], e["deferral"]
        L += ["\n## End to end through the streaming loop (real-time pace)\n",
              f"`{e['session']}` ({e['audio_s']:.1f} s, {e['utterances_total']} utterances; "
              f"{e['answered_right']} answered with the right intent). Teacher for deferrals: {e['teacher']}.\n",
              "| | n | median ms | p95 ms |", "|---|---|---|---|"]

        def row(name: str, st: dict) -> str:
            return f"| {name} | {st['n']} | {st['median']:.1f} | {st['p95']:.1f} |" if st["n"] else f"| {name} | 0 | - | - |"

        L += [row("**local intent: end of keyword -> answer**", loc["response_ms"]),
              row("  of which: audio still to come (decision time - keyword end)", loc["audio_wait_ms"]),
              row("  of which: compute of the deciding hop", loc["compute_ms"]),
              row("**deferral: end of speech -> answer**", dfr["response_ms"]),
              row("  of which: segment closed (gate hangover)", dfr["segment_close_ms"]),
              row("  of which: teacher transcription", dfr["teacher_ms"])]
        L += ["\nLoop compute per hop, by stage:\n", "| stage | hops | mean ms | p95 ms | p99 ms |", "|---|---|---|---|---|"]
        for k in ("buffer", "gate", "student", "decision", "handler"):
            if k in e["stages_per_hop_ms"]:
                st = e["stages_per_hop_ms"][k]
                L.append(f"| {k} | {st['n']} | {st['mean']:.3f} | {st['p95']:.3f} | {st['p99']:.3f} |")
        L.append(f"\nReal-time factor: loop {e['loop_real_time_factor']:.4f}" +
                 (f", teacher on deferred segments {e['teacher_real_time_factor']:.2f}" if e["teacher_real_time_factor"]
                  else "") + ".")
    elif e:
        L += ["\n## End to end\n", e["error"]]
    n_all, n_sample = c["clips"], c["sample_clips"]

    def acc(r: dict, key: str) -> str:
        return "-" if r.get(key) is None else f"{r[key]:.1%}"

    L += ["\n## Teacher and peer\n", f"| engine | threads | accuracy, all {n_all} clips | accuracy, {n_sample}-clip sample "
          "| ms per clip p50 / p95 | size | peak RSS |", "|---|---|---|---|---|---|---|"]
    for r in out["teachers"] + [out.get("pocketsphinx", {})]:
        name = f"{r['model']} / {r['backend']}" if "model" in r else "pocketsphinx, grammar mode"
        if "error" in r:
            L.append(f"| {name} | - | {r['error']} | | | | |")
        elif r:
            L.append(f"| {name} | {r['threads']} | {acc(r, 'accuracy_all')} | {acc(r, 'accuracy')} | {r['clip_ms']['median']:.1f} / "
                     f"{r['clip_ms']['p95']:.1f} | {r['size_bytes'] / 2**20:.1f} MB | {r['peak_rss_mb']:.0f} MB |")
    L += ["\n## Student vs teacher vs pocketsphinx\n", f"| | accuracy, all {n_all} clips | accuracy, {n_sample}-clip sample "
          "| ms per clip (p50) | size | peak RSS |", "|---|---|---|---|---|---|"]
    for r in out["summary"]:
        size = f"{r['size_bytes'] / 1024:.0f} KB" if r["size_bytes"] < 2**20 else f"{r['size_bytes'] / 2**20:.1f} MB"
        L.append(f"| {r['name']} ({r['threads']} thr) | {acc(r, 'accuracy_all')} | {acc(r, 'accuracy')} | {r['clip_ms']:.2f} | {size} | "
                 f"{r['peak_rss_mb']:.0f} MB |")
    t = out["targets"]
    L.append("\nTargets: " + "; ".join(
        [f"student {t['speedup_vs_fastest_teacher']['x']:.0f}x faster per clip than {t['speedup_vs_fastest_teacher']['teacher']} "
         f"(≥ 200x {'✓' if t['speedup_vs_fastest_teacher']['met'] else '✗'})"] * ("speedup_vs_fastest_teacher" in t) +
        [f"{t['points_over_pocketsphinx']['points']:+.1f} points over pocketsphinx on {t['points_over_pocketsphinx']['on']} "
         f"(≥ +20 {'✓' if t['points_over_pocketsphinx']['met'] else '✗'}; "
         f"{t['points_over_pocketsphinx']['points_on_sample']:+.1f} on the sample)"] * ("points_over_pocketsphinx" in t) +
        [f"bench {t['bench_seconds']['seconds']:.0f} s (≤ 300 s {'✓' if t['bench_seconds']['met'] else '✗'})"]) + ".")
    if out.get("plots"):
        L.append("\n" + "\n".join(f"![{k}]({v})" for k, v in out["plots"].items()))
    return "\n".join(L) + "\n"
