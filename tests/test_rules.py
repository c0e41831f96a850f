"""Every rule on every layer type against the explicit matrix-form oracles; hand-worked cases;
rule validation; the legacy parser; lrp_aware bitwise equality."""

from __future__ import annotations

import lrp_oracles as oracle
import numpy
import pytest

from lrp_toolbox.errors import RuleError
from lrp_toolbox.modules import AvgPool, Convolution, Flatten, Linear, MaxPool, Rect, SoftMax, SumPool, Tanh
from lrp_toolbox.rules import (
    AlphaBeta,
    Epsilon,
    Flat,
    Gamma,
    Pass,
    Rule,
    WinnerTakeAll,
    WSquare,
    ZBox,
    Zero,
    ZPlus,
    from_legacy,
    sign,
    stabilize,
)
from lrp_toolbox.rules.stabilizer import denominator_nonzero

RTOL = 1e-12


def make_layer(kind, seed=0):
    """A forwarded-ready layer and a mixed-sign input with some exact zeros."""
    rng = numpy.random.default_rng(seed)
    if kind == "linear":
        layer, shape = Linear(5, 4, rng=rng), (3, 5)
    elif kind == "conv":
        layer = Convolution((3, 2, 2, 3), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2), rng=rng)
        shape = (2, 6, 7, 2)
    elif kind == "sumpool":
        layer, shape = SumPool(pool=(2, 3), stride=(2, 1)), (2, 4, 5, 2)
    elif kind == "avgpool":
        layer, shape = AvgPool(pool=(2, 2), stride=(1, 1)), (2, 3, 4, 2)
    else:
        raise ValueError(kind)
    if layer.params:
        layer.B = rng.standard_normal(layer.B.shape)
    x = rng.standard_normal(shape)
    x.reshape(-1)[::7] = 0.0
    return layer, x


RULES = [
    Zero(),
    Zero(stabilizer=0.0),
    Zero(bias="none"),
    Epsilon(0.1),
    Epsilon(0.05, stabilizer_form="unsigned"),
    Epsilon(0.05, stabilizer_form="zero_only"),
    ZPlus(),
    ZPlus(bias="full"),
    ZPlus(bias="none"),
    ZPlus(split_inputs=False),
    AlphaBeta(2.0, 1.0),
    AlphaBeta(1.0, 0.0),
    AlphaBeta(0.0, -1.0),
    AlphaBeta(3.0, 2.0, bias="full"),
    AlphaBeta(2.0, 1.0, bias="none", stabilizer=0.0),
    Gamma(0.25),
    Gamma(0.5, bias="raw"),
    Gamma(0.25, variant="generalized"),
    Gamma(1.0, variant="generalized", bias="none"),
    ZBox(-2.0, 2.0),
    # the stabiliser forms of the sign-split and box rules, with a stabiliser large enough to matter
    ZPlus(stabilizer=0.05, stabilizer_form="unsigned"),
    ZPlus(stabilizer=0.05, stabilizer_form="zero_only", split_inputs=False),
    AlphaBeta(2.0, 1.0, stabilizer=0.05, stabilizer_form="unsigned"),
    AlphaBeta(2.0, 1.0, stabilizer=0.05, stabilizer_form="zero_only"),
    Gamma(0.25, stabilizer=0.05, stabilizer_form="unsigned"),
    Gamma(0.25, variant="generalized", stabilizer=0.05, stabilizer_form="unsigned"),
    Gamma(0.25, variant="generalized", stabilizer=0.05, stabilizer_form="zero_only"),
    ZBox(-2.0, 2.0, stabilizer=0.05, stabilizer_form="zero_only"),  # (d >= 0: 'unsigned' = 'signed')
    Flat(),
    WSquare(),
    WSquare(bias="squared"),
]
KINDS = ["linear", "conv", "sumpool", "avgpool"]


def expected(rule, layer, x, R):
    in_shape = x.shape[1:]
    A, b = oracle.materialise(layer, in_shape)
    full_b = layer.lrp_bias is not None
    if isinstance(rule, (Zero, Epsilon)):
        eps = rule.stabilizer if isinstance(rule, Zero) else rule.epsilon
        return oracle.epsilon(A, b, x, R, eps, rule.bias == "full" and full_b, rule.stabilizer_form)
    if isinstance(rule, ZPlus):
        if not rule.split_inputs:
            return oracle.zplus_unsplit(A, b, x, R, rule.stabilizer, rule.bias, rule.stabilizer_form)
        mode = {"positive": "split"}.get(rule.bias, rule.bias)
        return oracle.alphabeta(A, b, x, R, 1.0, 0.0, rule.stabilizer, mode, rule.stabilizer_form)
    if isinstance(rule, AlphaBeta):
        form = rule.stabilizer_form
        return oracle.alphabeta(A, b, x, R, rule.alpha, rule.beta, rule.stabilizer, rule.bias, form)
    if isinstance(rule, Gamma):
        fn = oracle.gamma_classic if rule.variant == "classic" else oracle.gamma_generalized
        return fn(A, b, x, R, rule.gamma, rule.stabilizer, rule.bias, rule.stabilizer_form)
    if isinstance(rule, ZBox):
        size = A.shape[1]
        low = numpy.broadcast_to(rule.low.array, in_shape).reshape(size)
        high = numpy.broadcast_to(rule.high.array, in_shape).reshape(size)
        return oracle.zbox(A, x, R, low, high, rule.stabilizer, rule.stabilizer_form)
    if isinstance(rule, Flat):
        C, _ = oracle.materialise(layer, in_shape, numpy.ones_like(layer.lrp_weight))
        return oracle.input_free(C, R).reshape(x.shape)
    if isinstance(rule, WSquare):
        bias = layer.lrp_bias
        b2 = None
        if bias is not None and rule.bias == "squared":
            b2 = layer.affine(numpy.zeros((1, *in_shape)), 0 * layer.lrp_weight, bias * bias).reshape(-1)
        return oracle.input_free(A * A, R, b2).reshape(x.shape)
    raise AssertionError(rule)


def assert_close(actual, ref):
    assert actual.dtype == numpy.float64
    assert actual.shape == ref.shape
    numpy.testing.assert_allclose(actual, ref, rtol=RTOL, atol=RTOL * max(1.0, numpy.abs(ref).max()))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_rule_matches_matrix_oracle(kind, rule):
    layer, x = make_layer(kind)
    y = layer.forward(x)
    R = numpy.random.default_rng(1).standard_normal(y.shape)
    got = layer.lrp(R, rule)
    assert_close(got, expected(rule, layer, x, R))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_lrp_aware_is_bitwise_identical(kind, rule):
    layer, x = make_layer(kind)
    layer.forward(x)
    R = numpy.random.default_rng(2).standard_normal(layer.cache.y.shape)
    plain = layer.lrp(R, rule)
    layer.forward(x, lrp_aware=True)
    first = layer.lrp(R, rule)
    second = layer.lrp(R, rule)  # served from the memo
    assert numpy.array_equal(plain, first)
    assert numpy.array_equal(plain, second)
    # Zero/Epsilon divide by the forward's own z (cache.z); with a zero stabiliser the denominator is
    # z itself and the memo holds nothing beyond the forward cache
    keeps_z = isinstance(rule, (Zero, Epsilon)) and (
        isinstance(layer, (Linear, Convolution)) or getattr(rule, "stabilizer", None) == 0.0
    )
    if not keeps_z:
        assert layer.cache.nbytes() > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_non_negative_input_leaves_the_forward_cache_intact(kind, rule):
    # inputs >= 0 (after a ReLU) are where the sign-split rules read a pool's z from cache.z; no
    # rule may write into x, y or z, even after a plain forward, where rules reuse their temporaries
    layer, x = make_layer(kind)
    x = numpy.abs(x)
    y = layer.forward(x)
    kept = [a.copy() for a in (layer.cache.x, layer.cache.y, layer.cache.z)]
    R = numpy.random.default_rng(3).standard_normal(y.shape)
    first = layer.lrp(R, rule)
    second = layer.lrp(R, rule)
    assert_close(first, expected(rule, layer, x, R))
    assert numpy.array_equal(first, second)
    for before, now in zip(kept, (layer.cache.x, layer.cache.y, layer.cache.z), strict=True):
        assert numpy.array_equal(before, now)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", RULES, ids=repr)
def test_all_zero_input_gives_zero_finite_relevance(kind, rule):
    layer, x = make_layer(kind)
    x = numpy.zeros_like(x)
    y = layer.forward(x)
    R = numpy.ones_like(y)
    got = layer.lrp(R, rule)
    assert numpy.isfinite(got).all()
    if not isinstance(rule, (Flat, WSquare)):  # input-free rules ignore x
        numpy.testing.assert_allclose(got, expected(rule, layer, x, R), rtol=RTOL, atol=1e-300)


def test_zbox_per_input_bounds_on_conv():
    layer, x = make_layer("conv")
    low = -1.0 - numpy.random.default_rng(3).random(x.shape[1:])  # per pixel and channel
    high = numpy.array([1.0, 2.0])  # per channel
    rule = ZBox(low, high)
    layer.forward(x)
    R = numpy.random.default_rng(4).standard_normal(layer.cache.y.shape)
    assert_close(layer.lrp(R, rule), expected(rule, layer, x, R))


# ------------------------------------------------------------------ parameter-free layers
def _maxpool_input():
    rng = numpy.random.default_rng(5)
    x = rng.integers(-2, 3, size=(2, 5, 6, 3)).astype(float)  # small integers: many ties
    x[0, :2, :2, 0] = 0.0  # an all-zero window (a dead ReLU region)
    return x


@pytest.mark.parametrize(
    "pool,stride",
    [((2, 2), (2, 2)), ((3, 3), (3, 3)), ((1, 4), (1, 4)), ((3, 2), (1, 2)), ((2, 3), (2, 1))],
)  # the first three tile the input (fast paths), with rows or columns left over
@pytest.mark.parametrize("ties", ["split", "first"])
def test_maxpool_winner_take_all(pool, stride, ties):
    layer = MaxPool(pool, stride)
    x = _maxpool_input()
    y = layer.forward(x)
    R = numpy.random.default_rng(6).standard_normal(y.shape)
    got = layer.lrp(R, WinnerTakeAll(ties))
    assert_close(got, oracle.maxpool_wta(x, R, pool, stride, ties))
    numpy.testing.assert_allclose(got.sum(axis=(1, 2, 3)), R.sum(axis=(1, 2, 3)), rtol=1e-13)
    layer.forward(x, lrp_aware=True)
    assert numpy.array_equal(layer.lrp(R, WinnerTakeAll(ties)), got)
    assert numpy.array_equal(layer.lrp(R, WinnerTakeAll(ties)), got)


@pytest.mark.parametrize("pool,stride", [((2, 2), (2, 2)), ((3, 2), (1, 2))])
def test_maxpool_flat(pool, stride):
    layer = MaxPool(pool, stride)
    x = _maxpool_input()
    R = numpy.random.default_rng(7).standard_normal(layer.forward(x).shape)
    assert_close(layer.lrp(R, Flat()), oracle.maxpool_flat(x, R, pool, stride))


def test_maxpool_tie_hand_case():
    # one 2x2 window [[1, 1], [.5, .2]], R = 1: split gives .5/.5 to the two tied maxima (the
    # original's policy); 'first' gives all of it to the first maximum in row-major order (PyTorch)
    layer = MaxPool((2, 2), (2, 2))
    x = numpy.array([[1.0, 1.0], [0.5, 0.2]]).reshape(1, 2, 2, 1)
    layer.forward(x)
    R = numpy.ones((1, 1, 1, 1))
    assert layer.lrp(R, WinnerTakeAll()).reshape(2, 2).tolist() == [[0.5, 0.5], [0.0, 0.0]]
    assert layer.lrp(R, WinnerTakeAll("first")).reshape(2, 2).tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert layer.lrp(R, Flat()).reshape(2, 2).tolist() == [[0.25, 0.25], [0.25, 0.25]]
    # four tied zeros split evenly
    layer.forward(numpy.zeros((1, 2, 2, 1)))
    assert layer.lrp(R, WinnerTakeAll()).reshape(-1).tolist() == [0.25] * 4


@pytest.mark.parametrize("layer", [Rect(), Tanh(), SoftMax(), Flatten()], ids=repr)
def test_pass_layers(layer):
    x = numpy.random.default_rng(8).standard_normal((2, 3, 4, 2))
    if isinstance(layer, SoftMax):
        x = x.reshape(2, -1)
    y = layer.forward(x)
    R = numpy.random.default_rng(9).standard_normal(y.shape)
    got = layer.lrp(R, Pass())
    assert got.shape == x.shape
    assert numpy.array_equal(got.reshape(-1), R.reshape(-1))
    assert numpy.array_equal(layer.lrp(R, "epsilon", 0.01), got)  # any rule: Pass on these layers


# ------------------------------------------------------------------ hand-worked cases
def _tiny():
    # x = (1, 2), w = (3, -1), b = 1  =>  z = 1*3 + 2*(-1) + 1 = 2;  R = 4
    layer = Linear(2, 1)
    layer.W = numpy.array([[3.0], [-1.0]])
    layer.B = numpy.array([1.0])
    layer.forward(numpy.array([[1.0, 2.0]]))
    return layer, numpy.array([[4.0]])


@pytest.mark.parametrize(
    "rule,want",
    [
        # LRP-0: R_i = x_i w_i R / z = (3*4/2, -2*4/2) = (6, -4); the bias absorbs 4*(1/2) = 2
        (Zero(stabilizer=0.0), [6.0, -4.0]),
        # ε = 1: z + ε = 3  =>  (3*4/3, -2*4/3)
        (Epsilon(1.0), [4.0, -8.0 / 3.0]),
        # z+: c+ = (3, 0), d = 3 + b+ = 4  =>  (3*4/4, 0)
        (ZPlus(stabilizer=0.0), [3.0, 0.0]),
        # z+ without bias: d = 3  =>  (4, 0)
        (ZPlus(stabilizer=0.0, bias="none"), [4.0, 0.0]),
        # α2β1: 2*(3*4/4, 0) - 1*(0, (-2)*4/(-2 + b-=0)) = (6, 0) - (0, 4)
        (AlphaBeta(2.0, 1.0, stabilizer=0.0), [6.0, -4.0]),
        # flat: 4 / 2 inputs each
        (Flat(), [2.0, 2.0]),
        # w²: (9, 1) * 4 / 10
        (WSquare(), [3.6, 0.4]),
        # zennit's w² adds b² = 1: (9, 1) * 4 / 11
        (WSquare(bias="squared"), [36.0 / 11.0, 4.0 / 11.0]),
        # classic γ = 1: w' = w + w+ = (6, -1), b' = b + b+ = 2, d = 6 - 2 + 2 = 6  =>  (6*4/6, -2*4/6)
        (Gamma(1.0, stabilizer=0.0), [4.0, -4.0 / 3.0]),
        # generalized γ = 1, z = 2 > 0: c = x+ (w + w+) + x- (w + w-) = (6, -2), d = 4 + 2 = 6
        (Gamma(1.0, variant="generalized", stabilizer=0.0), [4.0, -4.0 / 3.0]),
        # z^B with l = 0, h = 2: c = x w - l w+ - h w- = (3 - 0, -2 + 2) = (3, 0), d = 3  =>  (4, 0)
        (ZBox(0.0, 2.0, stabilizer=0.0), [4.0, 0.0]),
    ],
    ids=repr,
)
def test_hand_worked_two_input_linear(rule, want):
    layer, R = _tiny()
    numpy.testing.assert_allclose(layer.lrp(R, rule)[0], want, rtol=1e-15)


def test_alphabeta_issue19_rows_have_no_nan():
    # lrp_toolbox#19: W = (-1, 1), b = 0, α = 2. Empty parts pass nothing (no 0/0 NaN):
    # (0,0): both parts empty -> (0, 0); (0,1): only c+ = (0, 1) -> 2*(0, 1)
    # (1,0): only c- = (-1, 0) -> -1*((-1)*1/(-1), 0) = (-1, 0); (1,1): 2*(0, 1) - (1, 0)
    layer = Linear(2, 1)
    layer.W = numpy.array([[-1.0], [1.0]])
    layer.B = numpy.zeros(1)
    layer.forward(numpy.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
    got = layer.lrp(numpy.ones((4, 1)), AlphaBeta(2.0, 1.0, stabilizer=0.0))
    assert got.tolist() == [[0.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [-1.0, 2.0]]
    legacy = layer.lrp(numpy.ones((4, 1)), "alphabeta", 2)
    numpy.testing.assert_allclose(legacy, got, rtol=1e-15)


def test_generalized_gamma_negative_output_and_zero_output():
    # x = (1, 1), w = (1, -3), b = 0: z = -2 < 0. γ = 1: c = x+ (w + γ w-) = (1, -6), d = -5
    # R = 5 => (1*5/-5, -6*5/-5) = (-1, 6). A zero output passes nothing.
    layer = Linear(2, 1)
    layer.W = numpy.array([[1.0], [-3.0]])
    layer.B = numpy.zeros(1)
    layer.forward(numpy.array([[1.0, 1.0], [3.0, 1.0]]))  # second sample: z = 0
    got = layer.lrp(numpy.array([[5.0], [5.0]]), Gamma(1.0, variant="generalized", stabilizer=0.0))
    assert got.tolist() == [[-1.0, 6.0], [0.0, 0.0]]


# ------------------------------------------------------------------ stabiliser
def test_stabilize_forms():
    z = numpy.array([-2.0, -0.0, 0.0, 3.0])
    assert stabilize(z, 0.5).tolist() == [-2.5, 0.5, 0.5, 3.5]  # sign(0) = +1, also for -0.0
    assert stabilize(z, 0.5, "unsigned").tolist() == [-1.5, 0.5, 0.5, 3.5]
    assert stabilize(z, 0.5, "zero_only").tolist() == [-2.0, 0.5, 0.5, 3.0]
    assert sign(z).tolist() == [-1.0, 1.0, 1.0, 1.0]
    assert stabilize(z, 0.0) is z
    assert float(stabilize(numpy.asarray(4.0), 0.5)) == 4.5  # 0-d denominators (Flat on MaxPool)
    assert float(stabilize(numpy.asarray(-0.0), 0.5)) == 0.5


@pytest.mark.parametrize("form", ["signed", "unsigned", "zero_only"])
def test_stabilize_sign_promise_changes_nothing(rng, form):
    # the sign hint only skips work: same bits as without it, zeros and -0.0 included
    z = rng.standard_normal(200) * 10.0 ** rng.integers(-12, 3, 200)
    z[::7] = 0.0
    z[3::11] = -0.0
    pos, neg = numpy.abs(z), -numpy.abs(z)
    for eps in (0.0, 1e-9, 0.25):
        assert stabilize(pos, eps, form, sign=1).tobytes() == stabilize(pos, eps, form).tobytes()
        assert stabilize(neg, eps, form, sign=-1).tobytes() == stabilize(neg, eps, form).tobytes()


@pytest.mark.parametrize("form", ["signed", "unsigned", "zero_only"])
@pytest.mark.parametrize("sign_", [None, 1, -1])
def test_stabilize_into_out_gives_the_same_bits(rng, form, sign_):
    z = rng.standard_normal(300)
    z[::9] = 0.0
    z[4::13] = -0.0
    z = {None: z, 1: numpy.abs(z), -1: -numpy.abs(z)}[sign_]
    for eps in (0.0, 1e-9, 0.5):
        expected = stabilize(z, eps, form, sign=sign_)
        scratch = z.copy()
        got = stabilize(scratch, eps, form, sign=sign_, out=scratch)
        assert got.tobytes() == expected.tobytes()


def test_denominator_nonzero_is_a_guarantee(rng):
    z = numpy.concatenate([rng.standard_normal(100), [0.0, -0.0, 1e-300, -1e-300]])
    for form in ("signed", "unsigned", "zero_only"):
        for eps in (0.0, 1e-9):
            for sign_, data in ((None, z), (1, numpy.abs(z)), (-1, -numpy.abs(z))):
                if denominator_nonzero(eps, form, sign_):
                    assert (stabilize(data, eps, form, sign=sign_) != 0).all()
    assert not denominator_nonzero(0.0, "signed")
    assert not denominator_nonzero(1e-9, "unsigned", -1)
    assert not denominator_nonzero(1e-9, "zero_only", 1)


def test_a_stabiliser_that_rounds_to_zero_counts_as_zero():
    # 1e-50 is 0 in float32: the denominators of zero outputs stay 0 and must be caught
    assert denominator_nonzero(1e-50, "signed", dtype=numpy.float64)
    assert not denominator_nonzero(1e-50, "signed", dtype=numpy.float32)
    assert not denominator_nonzero(1e-50, "unsigned", 1, numpy.float32)
    z = numpy.array([0.0, -0.0, 1.0], dtype=numpy.float32)
    assert (stabilize(z, 1e-50, "signed") == 0).sum() == 2
    layer = Linear(3, 2, rng=numpy.random.default_rng(0)).to(dtype="float32")
    layer.B[:] = 0
    x = numpy.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], dtype=numpy.float32)
    R = numpy.ones_like(layer.forward(x))
    for rule in (Epsilon(1e-50), Zero(1e-50), ZPlus(stabilizer=1e-50), Flat(stabilizer=1e-50)):
        with numpy.errstate(all="raise"):
            got = layer.lrp(R, rule)
        assert numpy.isfinite(got).all(), rule
        if not isinstance(rule, Flat):
            assert (got[0] == 0).all(), rule  # the all-zero sample passes no relevance


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    "make",
    [
        lambda: AlphaBeta(2.0, 2.0),
        lambda: AlphaBeta(float("nan"), 1.0),
        lambda: AlphaBeta(2.0, 1.0, bias="positive"),
        lambda: Epsilon(-1.0),
        lambda: Epsilon(float("inf")),
        lambda: Zero(stabilizer_form="clip"),
        lambda: ZPlus(bias="split"),
        lambda: Gamma(-0.1),
        lambda: Gamma(0.25, variant="zennit"),
        lambda: ZBox(1.0, -1.0),
        lambda: ZBox(numpy.zeros(3), numpy.ones(2)),
        lambda: ZBox(numpy.nan, 1.0),
        lambda: WSquare(bias="full"),
        lambda: WinnerTakeAll("last"),
    ],
)
def test_invalid_rules_raise(make):
    with pytest.raises(RuleError):
        make()


def test_rules_are_frozen_hashable_and_printable():
    r = AlphaBeta(2, 1)
    assert r == AlphaBeta(2.0, 1.0) and hash(r) == hash(AlphaBeta(2.0, 1.0))
    assert repr(r).startswith("AlphaBeta(alpha=2.0, beta=1.0")
    with pytest.raises(AttributeError):
        r.alpha = 3.0  # type: ignore[misc]
    assert ZBox(numpy.zeros(2), 1.0) == ZBox(numpy.zeros(2), 1.0)
    assert ZBox(numpy.zeros(2), 1.0) != ZBox(numpy.zeros(3), 1.0)
    assert "shape=(2,)" in repr(ZBox(numpy.zeros(2), 1.0))


def test_zbox_bound_not_broadcastable_to_input():
    layer, x = make_layer("linear")
    layer.forward(x)
    with pytest.raises(RuleError, match="broadcast"):
        layer.lrp(numpy.ones(layer.cache.y.shape), ZBox(numpy.zeros(3), 1.0))


# ------------------------------------------------------------------ legacy parser
@pytest.mark.parametrize(
    "var,param,rule",
    [
        ("epsilon", 0.01, Epsilon(0.01)),
        ("EPS", 1, Epsilon(1.0)),
        ("epsilon_slow", 0.5, Epsilon(0.5)),
        ("alphabeta", 2, AlphaBeta(2.0, 1.0, stabilizer=1e-16)),
        ("alpha", 1.0, AlphaBeta(1.0, 0.0, stabilizer=1e-16)),
        ("alpha_slow", 0, AlphaBeta(0.0, -1.0, stabilizer=1e-16)),
        ("flat", None, Flat()),
        ("zplus", None, ZPlus()),
        ("z+", None, ZPlus()),
        ("zero", None, Zero()),
        ("gamma", None, Gamma()),
        ("gamma", 0.1, Gamma(0.1)),
        ("zbox", (-1, 1), ZBox(-1.0, 1.0)),
        ("pass", None, Pass()),
        ("wsquare", None, WSquare()),
        ("wta", "first", WinnerTakeAll("first")),
    ],
)
def test_from_legacy_maps_to_rule_objects(var, param, rule):
    assert from_legacy(var, param) == rule
    assert Rule.from_legacy(var, param) == rule


def test_from_legacy_layer_dependent_names_are_composites():
    from lrp_toolbox.composites import Composite

    for var in (None, "none", "simple", "slow", "simple_slow", "ww", "w^2"):
        assert isinstance(from_legacy(var), Composite)


@pytest.mark.parametrize(
    "var,param,match",
    [
        ("epsilon", None, "needs a parameter"),
        ("alphabeta", None, "needs a parameter"),
        ("epsilon", "a", "must be a number"),
        ("lrp", None, "unknown lrp variant 'lrp'; valid names: none, simple"),
        (None, 0.5, "ambiguous"),
        ("zbox", 1.0, "low, high"),
        ("zplus", 1.0, "takes no parameter"),
        (3, None, "must be a string"),
    ],
)
def test_from_legacy_errors(var, param, match):
    with pytest.raises(RuleError, match=match):
        from_legacy(var, param)


def test_parameters_accept_numpy_numbers_and_reject_bools():
    assert AlphaBeta(numpy.int64(2), numpy.int64(1)) == AlphaBeta(2.0, 1.0)
    assert Gamma(numpy.float32(0.5)).gamma == 0.5
    assert Epsilon(numpy.float64(0.25)).epsilon == 0.25
    for build in (
        lambda: Epsilon(True),
        lambda: Zero(stabilizer=numpy.bool_(True)),
        lambda: Gamma("0.25"),
        lambda: AlphaBeta(2, True),
        lambda: ZPlus(stabilizer=numpy.array([1e-9])),
    ):
        with pytest.raises(RuleError, match="must be a finite number"):
            build()


@pytest.mark.parametrize(("alpha", "beta"), [(2e12, 2e12), (1e17, 1e17 - 1), (2.0, 1.0 + 1e-9)])
def test_alpha_minus_beta_must_be_one_at_any_size(alpha, beta):
    """The tolerance once scaled with alpha, so AlphaBeta(2e12, 2e12) (alpha - beta = 0) passed."""
    with pytest.raises(RuleError, match="alpha - beta must be 1"):
        AlphaBeta(alpha, beta)


def test_alpha_minus_beta_allows_the_rounding_of_large_legacy_parameters():
    a = 1e5 + 0.1
    rule = from_legacy("alphabeta", a)
    assert (rule.alpha, rule.beta) == (a, a - 1)
    with pytest.raises(RuleError, match="alpha - beta must be 1"):
        from_legacy("alphabeta", 1e17)  # 1e17 - 1 == 1e17 in float64
