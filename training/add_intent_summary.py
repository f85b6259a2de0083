"""What ``training add-intent`` prints when it is done: the summary of one added word, line by line."""

from __future__ import annotations


def print_summary(s: dict) -> None:
    """The lines ``training add-intent`` ends with, from its summary (the ``--json`` dict)."""
    print(f"\n'{s['name']}' added: {s['model_dir']} (promoted), in {s['seconds']:.0f} s")
    if s.get("side_branch") is not None:
        print(f"  learnt in a side branch after block {s['side_branch']}: every old output computes what it did")
    print(f"  teacher kept {s['kept']} clips, dropped {s['dropped']}"
          + (f" (heard e.g. {s['dropped_examples'][:3]})" if s["dropped_examples"] else ""))
    r = s["rehearsal"]
    print(f"  rehearsal: {r['clips']} clips ({r['teacher_labels_from_cache']} teacher labels from the cache, "
          f"{r['old_student_outputs']} old-student outputs, {r['left_out_as_the_new_phrase']} left out, "
          f"{r.get('found_real_clips', {}).get('learnt', 0)} of them real clips of the phrase learnt as it; "
          f"{r.get('hard_negatives', 0)} confused with the new phrase shown again"
          + (f"; {r['chatter_windows']} windows of chatter held at the old student's outputs" if r.get("chatter_windows")
             else "") + ")")
    kept = (r.get("found_real_clips") or {}).get("heard_segments") or {}
    if kept.get("transcribed_as_the_phrase"):
        print(f"  kept segments (--keep-heard): {kept['transcribed_as_the_phrase']} heard as the phrase, {kept['learnt']} "
              "learnt as it")
    o = r.get("offset") or {}
    if o.get("windows"):
        print(f"  word's logit offset {o['offset']:+.2f}, fitted on {o['windows']} read-speech windows of held-out "
              f"speakers (heard as the word: {o.get('fired_before', 0):.1%} -> {o.get('fired_after', 0):.1%})")
    h = s["heldout_voices"]
    if "new_recall" in h:
        print(f"  recall on {h['new_clips']} held-out synthetic voices: {h['new_recall']:.1%}")
    e = s.get("evaluation")
    if e:
        if "old_accuracy_after" in e:
            print(f"  old classes ({e['old_clips']} clips): {e.get('old_accuracy_before', float('nan')):.1%} before, "
                  f"{e['old_accuracy_after']:.1%} after ({e.get('old_accuracy_change_pts', float('nan')):+.1f} pts)")
        if "new_recall" in e:
            print(f"  new intent recall ({e['new_clips']} clips): {e['new_recall']:.1%}")
        if "false_accepts" in e:
            print(f"  false accepts on other words: {e['false_accepts']}/{e['other_clips']} ({e['false_accept_rate']:.1%})")
