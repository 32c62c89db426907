"""The report's statistics: paired tests over seeds, their confidence intervals and correction."""

import math

import pytest

from hbilstm.study.collect import Run
from hbilstm.study.stats import format_p, paired_tests


def run(carry, depth, seed, score):
    return Run(f"{carry}-L{depth}-s{seed}", {"carry": carry, "layers": depth, "seed": seed}, "finished",
               {"test": {"macro_recall": score}})


def pairs(depth, highway, plain):
    return [run("highway", depth, s + 1, h) for s, h in enumerate(highway)] + \
           [run("plain", depth, s + 1, p) for s, p in enumerate(plain)]


def test_equal_nonzero_differences_give_no_p_value_never_zero():
    # every seed pair differs by exactly 0.20: there is no spread to test against
    (test,) = paired_tests(pairs(16, [0.55, 0.56], [0.35, 0.36]), "macro_recall")
    assert test["mean_difference"] == pytest.approx(0.20)
    assert test["p_value"] is None and test["p_holm"] is None and not test["significant"]
    assert test["df"] == 1 and "no spread" in test["note"]


def test_confidence_interval_degrees_of_freedom_and_effect_by_hand():
    # differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01, n 3, t(0.975, 2) = 4.302653
    (test,) = paired_tests(pairs(4, [0.51, 0.52, 0.53], [0.50, 0.50, 0.50]), "macro_recall")
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert test["df"] == 2
    assert test["ci_low"] == pytest.approx(0.02 - half, abs=1e-6)
    assert test["ci_high"] == pytest.approx(0.02 + half, abs=1e-6)
    # t = mean / (sd / sqrt(n)) = 3.4641, two-sided p with 2 df
    assert test["t"] == pytest.approx(2 * math.sqrt(3), rel=1e-6)
    assert test["p_value"] == pytest.approx(0.07418, abs=1e-4)


def test_holm_correction_over_the_depths_tested():
    runs = (pairs(1, [0.60, 0.61, 0.62], [0.50, 0.50, 0.50])      # large, steady gain
            + pairs(2, [0.51, 0.52, 0.53], [0.50, 0.50, 0.50])    # p = 0.0742
            + pairs(4, [0.50, 0.52, 0.49], [0.50, 0.50, 0.50]))   # noise
    tests = {t["depth"]: t for t in paired_tests(runs, "macro_recall")}
    raw = sorted((t["p_value"], d) for d, t in tests.items())
    k = len(raw)
    expected, running = {}, 0.0
    for i, (p, depth) in enumerate(raw):
        running = max(running, min(1.0, (k - i) * p))
        expected[depth] = running
    for depth, test in tests.items():
        assert test["p_holm"] == pytest.approx(expected[depth]) and test["tests"] == 3
        assert test["significant"] == (test["p_holm"] < 0.05)
    assert tests[1]["p_holm"] > tests[1]["p_value"]


def test_p_values_are_never_printed_as_zero():
    assert format_p(1e-30) == "< 0.001" and format_p(0.0) == "< 0.001"
    assert format_p(0.0123) == "0.0123" and format_p(None) == "–"
