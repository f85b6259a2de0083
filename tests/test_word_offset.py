"""The added word's logit offset: the fit on held-out negatives is pure, and the shift moves one output only."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.corpus import Clip
from training.word_offset import FIT_SHARE, fit_offset, margins, split_speakers


def test_the_offset_fires_on_at_most_the_allowed_share() -> None:
    m = np.random.default_rng(0).normal(-6.0, 1.5, 2000)
    for rate in (0.001, 0.005, 0.02):
        b = fit_offset(m, rate, cap=10.0)
        assert np.mean(m + b > 0) <= rate
        assert np.mean(m + b + 1e-6 > 0) > rate - 1 / len(m)  # and no smaller than it needs to be
    assert fit_offset(m, 0.005, cap=0.5) == 0.5  # capped
    assert fit_offset(np.array([1.0, -3.0, -3.0]), 0.1) == 0.0  # already fires on more than the rate: no offset
    assert fit_offset(np.zeros(0), 0.01) == 0.0
    assert fit_offset(m, 0.0) == 0.0  # rate 0: no offset


def test_margins_are_the_word_against_its_strongest_rival() -> None:
    logits = np.array([[1.0, 3.0, 0.0], [5.0, 2.0, 4.5]])
    assert margins(logits, 0).tolist() == [-2.0, 0.5]
    assert margins(logits, 2).tolist() == [-3.0, -0.5]


def test_fit_speakers_are_a_share_of_speakers_and_never_train() -> None:
    clips = [Clip(f"/x/{s}-{i}.flac", f"{s}", None, "speech") for s in range(600) for i in range(3)]
    train, fit = split_speakers(clips)
    assert not {c.speaker for c in train} & {c.speaker for c in fit}
    assert len(train) + len(fit) == len(clips)
    assert abs(len({c.speaker for c in fit}) / 600 - 1 / FIT_SHARE) < 0.06


@pytest.mark.parametrize("branch", [True, False])
def test_the_shift_moves_the_one_output_by_the_offset(branch: bool) -> None:
    import torch

    from assistant.registry import PACKAGE_ROOT, Registry
    from training.add_intent import grow_branch, grow_head
    from training.model import load_dir
    from training.word_offset import fit_and_shift

    old = load_dir(Registry(PACKAGE_ROOT).path()).eval()
    labels = tuple(f"l{i}" for i in range(old.dims.n_classes))
    net = (grow_branch(old, labels, labels + ("new",), 6) if branch else grow_head(old, labels, labels + ("new",)))
    x = (np.random.default_rng(1).standard_normal((300, 16000)) * 0.1).astype(np.float32)
    with torch.inference_mode():
        before = net.eval()(torch.from_numpy(x)).numpy()
    got = fit_and_shift(net, x, len(labels), rate=0.02)
    with torch.inference_mode():
        after = net.eval()(torch.from_numpy(x)).numpy()
    assert got["offset"] > 0 and got["fired_after"] <= 0.02
    np.testing.assert_allclose(after[:, -1] - before[:, -1], got["offset"], atol=1e-4)
    np.testing.assert_allclose(after[:, :-1], before[:, :-1], atol=1e-5)
