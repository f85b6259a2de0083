"""Draws docs/student/learning-curve.png from learning-curve.json: python docs/student/plot_learning_curve.py JSON PNG."""
import json, sys
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
d = json.load(open(sys.argv[1]))
clips = {0.25: 429, 0.5: 741, 1.0: 1630}; spk = {429: 58, 741: 102, 1630: 208, 1973: 251}
e = d["earlier_runs_same_recipe_all_speakers"]
alls = [e["seed 0 (v3)"], e["seed 1"][0], e["seed 2"], e["seed 3"]]
xs, ys, cx, cy = [], [], [], []
for r in d["runs"]:
    n = r["train_sources"]["real"]
    (cx if r["calib_speakers_too"] else xs).append(n); (cy if r["calib_speakers_too"] else ys).append(100 * r["test_accuracy"])
xs += [1630] * 4; ys += [100 * a for a in alls]
fig, ax = plt.subplots(figsize=(7, 4.4))
ax.scatter(xs, ys, label="student, v3's recipe (one point a seed)")
ax.scatter(cx, cy, marker="s", s=60, label="+ the 43 calib speakers (seeds 0, 1)")
ax.axhline(93.6, ls="--", c="tab:green", label="teacher tiny.en 93.6 %")
ax.axhline(91.6, ls=":", c="tab:red", label="issue-3 target (teacher - 2)")
ticks = sorted(set(xs + cx)); ax.set_xticks(ticks)
ax.set_xticklabels([f"{t:,}\n{spk[t]}" + (" spk" if i == 0 else "") for i, t in enumerate(ticks)])
ax.set_ylim(75, 95); ax.margins(x=0.1); ax.grid(alpha=.3)
ax.set_xlabel("teacher-labelled real training clips (speakers)"); ax.set_ylabel("accuracy, 729 test-speaker clips (%)")
ax.set_title("student accuracy against the real recordings it learns from"); ax.legend(fontsize=8, loc="lower right")
fig.tight_layout(); fig.savefig(sys.argv[2], dpi=100)
