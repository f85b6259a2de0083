"""Draw docs/student/learning-curve.png from learning-curve.json.

Usage: python docs/student/plot_learning_curve.py JSON PNG
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(json_path: str, png_path: str) -> None:
    """One point per run: accuracy against the real clips learnt from (log scale); calib-speaker runs v4's recipe and the deeper recipe apart."""
    d = json.load(open(json_path))
    earlier = d["earlier_runs_same_recipe_all_speakers"]
    first_runs = [earlier["seed 0 (v3)"], earlier["seed 1"][0], earlier["seed 2"], earlier["seed 3"]]
    speakers = {earlier["real_train_clips"]: earlier["real_train_speakers"]}
    plain: list[tuple[int, float]] = [(earlier["real_train_clips"], 100 * a) for a in first_runs]
    calib: list[tuple[int, float]] = []
    calib_seeds: list[int] = []
    for run in d["runs"]:
        clips = run["train_sources"]["real"]
        speakers[clips] = run["real_train_speakers"]
        (calib if run["calib_speakers_too"] else plain).append((clips, 100 * run["test_accuracy"]))
        if run["calib_speakers_too"]:
            calib_seeds.append(run["seed"])
    teacher = 100 * d["teacher_test_accuracy"]
    v4 = [(r["real_train_clips"], 100 * r["test_accuracy"]) for r in d.get("v4_recipe_runs", [])]
    deeper = [(r["real_train_clips"], 100 * r["test_accuracy"]) for r in d.get("deeper_recipe_runs", [])]
    for r in d.get("v4_recipe_runs", []):
        speakers[r["real_train_clips"]] = r["real_train_speakers"]

    fig, ax = plt.subplots(figsize=(7, 4.4))
    ax.scatter(*zip(*plain), label="student, v3's recipe (one point a seed)")
    ax.scatter(*zip(*calib), marker="s", s=60,
               label=f"+ the 43 calib speakers (seeds {', '.join(map(str, calib_seeds))})")
    if v4:
        ax.scatter(*zip(*v4), marker="^", s=60, c="tab:purple",
                   label="v4 recipe, every real folder (10,947 clips), balanced draws")
    if deeper:
        ax.scatter(*zip(*deeper), marker="D", s=50, c="tab:brown",
                   label="+ 3 blocks a stage, _unknown_ x3, 30 epochs (2026-12-03)")
    ax.axhline(teacher, ls="--", c="tab:green", label=f"teacher tiny.en {teacher:.1f} %")
    ax.axhline(teacher - 1.5, ls=":", c="tab:red", label="target: teacher - 1.5")
    ax.set_xscale("log")
    ticks = sorted(speakers)
    ax.set_xticks(ticks)
    ax.minorticks_off()
    ax.set_xticklabels([f"{t:,}\n{speakers[t]}" + (" spk" if i == 0 else "") for i, t in enumerate(ticks)])
    ax.set_ylim(75, 97)
    ax.margins(x=0.1)
    ax.grid(alpha=.3)
    ax.set_xlabel("teacher-labelled real training clips (speakers)")
    ax.set_ylabel("accuracy, 729 test-speaker clips (%)")
    ax.set_title("student accuracy against the real recordings it learns from")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)


if __name__ == "__main__":
    main(*sys.argv[1:3])
