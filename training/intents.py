"""``training remove-intent`` and ``intents``: take back an intent added with ``training add-intent``, and
list what each of the student's labels does."""

from __future__ import annotations

import argparse

import numpy as np

from assistant.errors import AssistantError
from assistant.registry import Registry
from assistant.student import Manifest

from .add_intent import shrink_head, student_labelset, target_registry, without_label


def remove_intent(args: argparse.Namespace) -> int:
    """Drop an added intent: back to the version before it when that is the parent, else a new version
    without that output."""
    registry = target_registry(args)
    cur = registry.path(args.student)
    m = Manifest.read(cur)
    name = args.name.strip().lower()
    if name not in m.labels:
        raise AssistantError(f"'{name}' is not one of the student's labels ({', '.join(m.labels)})")
    ls = student_labelset(m)
    if name not in (m.extra.get("intents") or {}):
        raise AssistantError(f"'{name}' is one of the student's built-in labels, not an added intent")
    parent = m.extra.get("parent")
    if m.extra.get("added_intent") == name and parent and (registry.root / args.student / parent).is_dir():
        registry.promote(args.student, parent)
        print(f"removed '{name}': {args.student}/{parent} (the version before it was added) is current again")
        return 0
    from .export import register
    from .model import count_parameters, load_dir

    import torch

    new = without_label(ls, name)
    net = load_dir(cur)
    smaller = shrink_head(net, m.labels, name).eval()
    dims = smaller.dims
    intents = {k: v for k, v in (m.extra.get("intents") or {}).items() if k != name}
    manifest = {**{k: v for k, v in m.extra.items() if k not in ("files", "default_file", "export", "created")},
                "labels": list(new.labels), "labelset": new.to_dict(), "frontend": net.fe.to_dict(),
                "dims": dims.to_dict(), "parameters": count_parameters(smaller), "intents": intents,
                "parent": m.version, "added_intent": None, "removed_intent": name}
    x = (np.random.default_rng(0).standard_normal((64, net.fe.window_samples)) * 0.05).astype(np.float32)
    with torch.inference_mode():
        targets = smaller(torch.from_numpy(x)).argmax(1).numpy()
    out = register(smaller, registry, args.student, manifest, x, x, targets, promote=True)
    print(f"removed '{name}': {out} (promoted)")
    return 0


def list_intents(args: argparse.Namespace) -> int:
    """Print the current student's labels and what each one does."""
    from assistant.intents import IntentSet

    reg = Registry(args.registry) if args.registry else Registry()
    d = reg.path(args.student)
    m = Manifest.read(d)
    added = m.extra.get("intents") or {}
    table = IntentSet.load().with_student(added)
    print(f"{m.name}/{m.version} ({d}); window {m.frontend.window_seconds:g} s")
    for lab in m.labels:
        match = table.from_label(lab)
        what = "-" if match is None else f"{match.intent}{match.slots or ''}"
        bar = (added.get(lab) or {}).get("accept") if lab in added else None
        branch = m.labels.index(lab) in (m.extra.get("dims") or {}).get("branches", [])
        src = (f"added: {', '.join(repr(p) for p in added[lab]['phrases'])}"
               + (f" (its own bar: {bar:g})" if bar else "") + (" (side branch)" if branch else "")) \
            if lab in added else "built-in"
        print(f"  {lab:12s} {what:32s} {src}")
    return 0
