"""Pure scoring and posterior logic, with a toy tokenizer and made-up log-probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.labelset import LabelSet
from assistant.teacher.posterior import Calibration, log_posterior
from assistant.teacher.scoring import Vocab, build_plan, spoken_forms
from training.calibrate import fit

VOCAB = Vocab(sot_sequence=(100,), no_timestamps=101, eot=99, no_speech=102, end_tokens=(99, 50),
              nonspeech_tokens=(60, 61), suppress=())
WORDS = {" yes": [1], " Yes": [2], " no": [3], " No": [4], " go on": [5, 6], " Go on": [7, 6]}
LS = LabelSet("toy", ("yes", "no", "go on"), (("yes",), ("no",), ("go on",)))


def plan():
    return build_plan(LS, VOCAB, lambda text: WORDS[text])


def test_spoken_forms() -> None:
    assert spoken_forms("yes") == [" yes", " Yes"]
    assert spoken_forms("NASA") == [" NASA", " nasa"]


def test_plan_shares_prefixes() -> None:
    p = plan()
    assert len(p.sequences) == 6  # one per distinct candidate
    # nodes: sot, root (prompt), plus after each candidate's tokens; 'go on' shares nothing with 'Go on'
    assert len(p.nodes) == len(set(p.nodes))
    root_pairs = {(int(n), int(t)) for n, t in zip(p.pair_node, p.pair_token)}
    assert len(root_pairs) == len(p.pair_node)  # no duplicate (node, token) pairs


def test_combine_sums_tokens_and_end_mass() -> None:
    p = plan()
    lp = np.full((1, len(p.pair_node)), np.log(1e-6))
    # make " Yes" + end-of-text likely: log P = log 0.5 + log(0.4 + 0.1)
    for i, (n, t) in enumerate(zip(p.pair_node, p.pair_token)):
        seq, pos = p.nodes[n]
        prefix = p.sequences[seq][: pos + 1]
        if prefix == (100, 101) and t == 2:
            lp[0, i] = np.log(0.5)
        if prefix == (100, 101, 2) and t == 99:
            lp[0, i] = np.log(0.4)
        if prefix == (100, 101, 2) and t == 50:
            lp[0, i] = np.log(0.1)
    scores, nonspeech, _ = p.combine(lp)
    assert scores[0, 0] == pytest.approx(np.log(0.5 * 0.5), abs=1e-4)
    assert scores[0].argmax() == 0
    assert nonspeech[0] == pytest.approx(np.log(2e-6), abs=1e-6)


def test_posterior_rows_sum_to_one_and_follow_scores() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(-5, 3, size=(50, 3))
    nonspeech = rng.normal(-8, 3, size=50)
    lp = log_posterior(scores, nonspeech, np.full(50, -30.0), LS, Calibration(temperature=0.7))
    assert lp.shape == (50, 5)
    assert np.allclose(np.exp(lp).sum(axis=1), 1.0)
    clear = np.array([[-0.1, -9, -9]])
    assert log_posterior(clear, np.array([-20.0]), np.array([-30.0]), LS, Calibration()).argmax() == 0
    # nothing explains the speech better than tau -> unknown
    vague = np.array([[-9.0, -9, -9]])
    assert log_posterior(vague, np.array([-20.0]), np.array([-30.0]), LS, Calibration(log_tau=-4)).argmax() == 3


def test_digital_silence_is_silence_whatever_the_decoder_says() -> None:
    lp = log_posterior(np.array([[-0.1, -9, -9]]), np.array([-30.0]), np.array([-120.0]), LS, Calibration())
    assert LS.labels[lp.argmax()] == "_silence_"


def test_closed_set_has_no_special_columns() -> None:
    closed = LabelSet("c", ("a", "b"), (("a",), ("b",)), unknown=None, silence=None)
    lp = log_posterior(np.array([[-1.0, -2.0]]), np.array([0.0]), np.array([-120.0]), closed, Calibration())
    assert lp.shape == (1, 2) and lp.argmax() == 0


def test_temperature_softens_without_changing_argmax() -> None:
    s = np.array([[-1.0, -3.0, -6.0]])
    sharp = np.exp(log_posterior(s, np.array([-20.0]), np.array([-30.0]), LS, Calibration(temperature=0.5)))
    soft = np.exp(log_posterior(s, np.array([-20.0]), np.array([-30.0]), LS, Calibration(temperature=3.0)))
    assert sharp.argmax() == soft.argmax() and sharp.max() > soft.max()


def test_calibration_recovers_a_separating_threshold() -> None:
    rng = np.random.default_rng(1)
    n = 300
    truth = rng.integers(0, 5, n)
    scores = rng.normal(-12, 1, size=(n, 3))
    for i, t in enumerate(truth):
        if t < 3:
            scores[i, t] = rng.normal(-1, 0.5)
    nonspeech = np.where(truth == 4, rng.normal(-1, 0.5, n), rng.normal(-15, 1, n))
    cal, info = fit(scores, nonspeech, np.full(n, -30.0), truth, LS)
    assert info["balanced_accuracy"] > 0.97
    assert -10 < cal.log_tau < -1
