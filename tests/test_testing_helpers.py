"""``lrp_toolbox.testing``: the comparison other projects' tests make against our relevances."""

from __future__ import annotations

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lrp_toolbox.testing import DEFAULT_RTOL, assert_relevance_close, relevance_error


def test_boundary_is_inclusive_and_exact():
    # expected max 4; one entry off by 2**-40, so the relative difference is 2**-40 / 4 = 2**-42 exactly
    expected = numpy.array([[4.0, 1.0]])
    actual = numpy.array([[4.0, 1.0 + 2.0**-40]])
    assert relevance_error(actual, expected).tolist() == [2.0**-42]
    assert_relevance_close(actual, expected, rtol=2.0**-42)
    with pytest.raises(AssertionError, match=r"relative difference 2\.27e-13"):
        assert_relevance_close(actual, expected, rtol=2.0**-43)


def test_each_sample_is_scaled_by_its_own_largest_relevance():
    expected = numpy.zeros((3, 2, 2))
    expected[0, 0, 0] = 1e6
    expected[1, 1, 0] = 1.0
    actual = expected.copy()
    actual[1, 1, 1] = 1e-9  # 1e-9 of sample 1's scale, 1e-15 of the array's
    assert_relevance_close(actual, expected, per="array")
    with pytest.raises(AssertionError) as info:
        assert_relevance_close(actual, expected)
    message = str(info.value)
    assert "in 1 of 3 samples; worst: sample 1 (max|expected| 1)," in message
    assert "largest at index (1, 1, 1): actual 1.0000000000000001e-09, expected 0" in message


def test_the_worst_of_several_failing_samples_is_named():
    expected = numpy.ones((4, 3))
    actual = expected.copy()
    actual[0, 2] += 1e-10
    actual[3, 1] += 1e-8
    with pytest.raises(
        AssertionError, match=r"in 2 of 4 samples; worst: sample 3 \(max\|expected\| 1\), .* index \(3, 1\)"
    ):
        assert_relevance_close(actual, expected)


def test_all_zero_samples():
    zeros = numpy.zeros((2, 3))
    assert relevance_error(zeros, zeros).tolist() == [0.0, 0.0]
    actual = zeros.copy()
    actual[1, 0] = 1e-300
    assert relevance_error(actual, zeros).tolist() == [0.0, numpy.inf]
    with pytest.raises(AssertionError, match="sample 1"):
        assert_relevance_close(actual, zeros)


def test_empty_samples_and_integer_arrays():
    assert relevance_error(numpy.zeros((2, 0)), numpy.zeros((2, 0))).tolist() == [0.0, 0.0]
    assert_relevance_close(numpy.array([[1, 2]]), numpy.array([[1.0, 2.0]]), rtol=0)


def test_overflowing_differences_and_numpy_scalar_tolerances():
    expected = numpy.array([[-1e308, 1.0]])
    assert relevance_error(-expected, expected).tolist() == [numpy.inf]  # no overflow warning
    with pytest.raises(AssertionError, match=r"relative difference inf, largest at index \(0, 0\)"):
        assert_relevance_close(-expected, expected)
    assert_relevance_close(expected, expected, rtol=numpy.float32(1e-6))
    with pytest.raises(ValueError, match="rtol"):
        assert_relevance_close(expected, expected, rtol=True)


def test_err_msg_comes_first():
    with pytest.raises(AssertionError, match=r"^layer 3, EpsilonPlus\nrelevances differ"):
        assert_relevance_close(numpy.ones((1, 2)), numpy.zeros((1, 2)) + 2, err_msg="layer 3, EpsilonPlus")


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf, -numpy.inf])
@pytest.mark.parametrize("which", ["actual", "expected"])
def test_non_finite_values_are_named(bad, which):
    clean = numpy.ones((2, 3))
    dirty = clean.copy()
    dirty[1, 2] = bad
    dirty[1, 0] = dirty[1, 2]  # two: the first in C order is named
    pair = (dirty, clean) if which == "actual" else (clean, dirty)
    with pytest.raises(AssertionError, match=rf"{which} relevance is not finite: .* at index \(1, 0\)"):
        assert_relevance_close(*pair)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: relevance_error(numpy.ones((2, 3)), numpy.ones((3, 2))), AssertionError, "shapes differ"),
        (lambda: relevance_error(numpy.float64(1), numpy.float64(1)), ValueError, "0-d"),
        (
            lambda: relevance_error(numpy.ones((1, 2)), numpy.ones((1, 2)), per="row"),
            ValueError,
            "per must be",
        ),
        (
            lambda: relevance_error(numpy.ones((1, 2), complex), numpy.ones((1, 2))),
            AssertionError,
            "real array",
        ),
        (lambda: relevance_error(numpy.ones((1, 2), bool), numpy.ones((1, 2))), AssertionError, "real array"),
        (
            lambda: relevance_error(numpy.ones((1, 2), numpy.longdouble), numpy.ones((1, 2))),
            AssertionError,
            "at most 64 bits",
        ),
        (lambda: relevance_error(numpy.ones(3), numpy.ones(3)), ValueError, "per='array' for a single map"),
        (
            lambda: assert_relevance_close(numpy.ones((1, 2)), numpy.ones((1, 2)), rtol=numpy.inf),
            ValueError,
            "rtol",
        ),
        (
            lambda: assert_relevance_close(numpy.ones((1, 2)), numpy.ones((1, 2)), atol=-1.0),
            ValueError,
            "atol",
        ),
        (lambda: assert_relevance_close(numpy.ones((1, 2)), numpy.ones((1, 2)), rtol=-1), ValueError, "rtol"),
        (
            lambda: assert_relevance_close(numpy.ones((1, 2)), numpy.ones((1, 2)), rtol=numpy.nan),
            ValueError,
            "rtol",
        ),
    ],
)
def test_misuse_is_reported(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _normal(low: float, high: float) -> st.SearchStrategy[float]:
    """0 or a float with ``low <= |x| <= high``: no subnormals, whose power-of-two scaling rounds."""
    return st.one_of(st.just(0.0), st.floats(low, high), st.floats(-high, -low))


finite = _normal(1e-100, 1e6)


@settings(max_examples=60, deadline=None)
@given(
    expected=hnp.arrays(numpy.float64, hnp.array_shapes(min_dims=2, max_dims=3, max_side=4), elements=finite),
    noise=_normal(1e-100, 1e-3),
    power=st.integers(-30, 30),
)
def test_error_is_zero_on_itself_and_invariant_under_power_of_two_scaling(expected, noise, power):
    actual = expected + noise
    assert not relevance_error(expected, expected).any()
    scale = 2.0**power  # exact: scaling by a power of two changes no relative difference
    numpy.testing.assert_array_equal(
        relevance_error(scale * actual, scale * expected), relevance_error(actual, expected)
    )
    assert_relevance_close(expected.copy(), expected, rtol=0)


def test_default_tolerance_separates_rounding_from_a_changed_convention():
    """One sample explained alone or in a batch (different GEMM blocking) passes; ε = 1e-3 in place
    of 1e-6 (a convention change) fails."""
    from lrp_toolbox import Linear, Rect, Sequential
    from lrp_toolbox.rules import Epsilon

    rng = numpy.random.default_rng(0)
    model = Sequential([Linear(300, 200, rng=rng), Rect(), Linear(200, 5, rng=rng)])
    X = rng.standard_normal((64, 300))
    R0 = model.forward(X)
    reference = model.lrp(R0, Epsilon(1e-6))
    alone = numpy.concatenate([model.lrp(model.forward(X[i : i + 1]), Epsilon(1e-6)) for i in range(64)])
    assert_relevance_close(alone, reference)
    assert DEFAULT_RTOL == 1e-12
    model.forward(X)
    with pytest.raises(AssertionError, match="relevances differ"):
        assert_relevance_close(model.lrp(R0, Epsilon(1e-3)), reference)


def test_the_scale_is_the_largest_magnitude_also_when_it_is_negative():
    # a negative target logit: expected max|e| = 4 (from -4), so 0.5 off is 0.125, not 0.5 / 1
    assert relevance_error(numpy.array([[-4.0, 1.5]]), numpy.array([[-4.0, 1.0]])).tolist() == [0.125]


def test_empty_batches_compare_equal():
    for shape in [(0, 784), (0, 28, 28, 1), (2, 0)]:
        empty = numpy.zeros(shape)
        assert relevance_error(empty, empty).shape == (shape[0],)
        assert_relevance_close(empty, empty)


def test_atol_admits_all_zero_expected_samples():
    expected = numpy.array([[1.0, 0.5], [0.0, 0.0]])
    actual = expected + numpy.array([[0.0, 0.0], [1e-15, 0.0]])
    with pytest.raises(
        AssertionError, match=r"worst: sample 1 \(max\|expected\| 0\), relative difference inf"
    ):
        assert_relevance_close(actual, expected)
    assert_relevance_close(actual, expected, atol=1e-15)
    with pytest.raises(AssertionError, match=r"beyond atol=1e-16 \+ rtol=1e-12"):
        assert_relevance_close(actual, expected, atol=1e-16)


def test_fraction_tolerances_are_formatted_on_failure():
    from fractions import Fraction

    with pytest.raises(AssertionError, match=r"rtol=0\.1 "):
        assert_relevance_close(numpy.ones((1, 2)), numpy.zeros((1, 2)) + 2, rtol=Fraction(1, 10))


def test_one_map_compares_with_per_array():
    assert relevance_error(numpy.array([1.0, 1e-10]), numpy.array([1.0, 0.0]), per="array").tolist() == [
        1e-10
    ]
