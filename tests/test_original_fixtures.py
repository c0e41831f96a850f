"""LeNet-5 relevances of the original toolbox (shared fixtures), to 1e-10 relative."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
from paths import FIXTURES

from lrp_toolbox.composites import Composite, Everywhere
from lrp_toolbox.engine import lrp_with_ledger
from lrp_toolbox.ledger import check_conservation
from lrp_toolbox.rules import AlphaBeta, Epsilon
from lrp_toolbox.testing import assert_relevance_close

if not FIXTURES.is_dir():  # checkouts next to /work/shared
    FIXTURES = Path("/work/shared/fixtures/original_toolbox")
pytestmark = pytest.mark.skipif(not (FIXTURES / "lenet5_reference.npz").is_file(), reason="fixtures absent")

TOL = 1e-10


@pytest.fixture(scope="module")
def lenet():
    from lrp_toolbox import model_io

    return model_io.read(FIXTURES / "LeNet-5.txt")


@pytest.fixture(scope="module")
def ref():
    with numpy.load(FIXTURES / "lenet5_reference.npz") as data:
        return {k: data[k] for k in data.files}


def assert_matches(R, R_ref):
    """The issue's criterion, ``max|R - R_ref| <= 1e-10 max|R_ref|`` over the whole array."""
    assert R.dtype == numpy.float64
    assert_relevance_close(R, R_ref, rtol=TOL, per="array")


def test_logits(lenet, ref):
    assert_relevance_close(lenet.forward(ref["X"]), ref["logits"], rtol=1e-12, per="array")


@pytest.mark.parametrize("lrp_aware", [False, True])
@pytest.mark.parametrize(
    "key,spec",
    [
        ("R_epsilon_0.01", ("epsilon", 0.01)),
        ("R_epsilon_0.01", (Epsilon(0.01), None)),
        ("R_alphabeta_2", ("alphabeta", 2)),
        ("R_alphabeta_2", ("alpha", 2.0)),
        ("R_alphabeta_2", (AlphaBeta(2, 1, stabilizer=1e-16), None)),
        ("R_alphabeta_2", (Composite(Everywhere(AlphaBeta(2, 1, stabilizer=1e-16))), None)),
    ],
)
def test_lenet5_relevance(lenet, ref, key, spec, lrp_aware):
    lenet.forward(ref["X"], lrp_aware=lrp_aware)
    assert_matches(lenet.lrp(ref["Rinit"], *spec), ref[key])


def test_lenet5_presets_reproduce_fixture(lenet, ref):
    lenet.set_lrp_parameters("epsilon", 0.01)
    try:
        lenet.forward(ref["X"])
        assert_matches(lenet.lrp(ref["Rinit"]), ref["R_epsilon_0.01"])
    finally:
        lenet.set_lrp_parameters(None, None)


def test_lenet5_explain_predicted_logit(lenet, ref):
    from lrp_toolbox.explain import explain

    assert_matches(explain(lenet, ref["X"], rule="epsilon", param=0.01), ref["R_epsilon_0.01"])


def test_lenet5_alphabeta_ledger(lenet, ref):
    # α2β1 after Rect -> SumPool: SumPool has no negative part, so it creates β R (doubles R); the
    # original measured the layer sums 247.45 <- 189.71 <- ... <- 23.54 for image 0
    lenet.forward(ref["X"])
    R, ledger = lrp_with_ledger(lenet, ref["Rinit"], "alphabeta", 2)
    assert_matches(R, ref["R_alphabeta_2"])
    check_conservation(ledger, rtol=1e-9, allow=("bias", "stabilizer", "created"))
    sums = [b.passed[0] for b in ledger]
    assert round(sums[0], 2) == 247.45 and round(ledger.layers[-1].upper[0], 2) == 23.54
    for b in ledger:
        if "SumPool" in b.layer:
            numpy.testing.assert_allclose(b.passed, 2 * b.upper, rtol=1e-12)
