"""Cross-check against zennit (marker ``oracle``; needs torch + zennit; run with ``-m oracle``).

Every comparison is in float64 at ``rtol = 1e-10`` (relative to the largest zennit relevance) after
mapping the conventions. The mappings (see also ``benchmarks/zennit_bridge.py``, docs/rules.md):

- **Layout.** Our NHWC tensors are transposed to NCHW; convolution weights ``(h, w, d, n) -> (n, d, h, w)``;
  the first Linear after a Flatten has its rows permuted from ``(h, w, c)`` to ``(c, h, w)`` order.
- **Stabiliser.** zennit adds ``1e-6 s(d)`` (signed, ``s(0) = +1``) in every rule; ours has the same form
  but defaults to 1e-9 (``Zero``, ``ZPlus``, ``AlphaBeta``, ``Gamma``, ``ZBox``) or 0 (``Flat``, ``WSquare``),
  so ``stabilizer=1e-6`` is set explicitly. ``Epsilon(ε)`` is zennit's ``Epsilon(epsilon=ε)``; our LRP-0
  with stabiliser ε is the same formula.
- **Bias.** ε/0: full ``b`` in both; ``bias='none'`` = zennit ``zero_params='bias'``. z+: ``b+``;
  α-β: ``b+``/``b-`` in both.
- **WSquare.** zennit squares the bias too (``Σ w² + b²``): ours ``bias='squared'``. Our default
  ``bias='none'`` equals zennit with ``zero_params='bias'`` (asserted).
- **Flat.** zennit divides by ``n_j + 1e-6``: ours ``Flat(stabilizer=1e-6)``; our exact default equals zennit
  times ``(n + 1e-6)/n`` (asserted). Both count only real inputs under symmetric padding (zennit's ones-input
  is padded with zeros by ``Conv2d``).
- **Gamma.** zennit's ``Gamma`` is the generalized form: ours ``Gamma(variant='generalized')``. Our default
  classic form coincides with it only where every output is positive and every input non-negative
  (asserted), and differs otherwise (asserted).
- **Pools.** zennit's ``Norm`` on ``AvgPool2d`` adds the stabiliser to the *mean*:
  ``x_i R_j / (S_j + k ε s)``. Ours on ``AvgPool`` with ``Zero(ε)`` is identical; our ``SumPool``
  rules act on the raw sum ``S_j``, so
  ``Zero(k ε)`` matches (and ``Zero(ε)`` matches zennit's ``Norm(ε / k)``; asserted). A ``SumPool``
  (``S / sqrt(k)``) is converted to ``AvgPool2d`` with ``sqrt(k)`` folded into the next layer's weights, which
  leaves every product ``x_i w_ij`` and hence every relevance unchanged. Our ``AlphaBeta(2, 1)`` on a pool
  after a ReLU passes ``α R`` (the negative part is empty): twice zennit's ``Norm`` (asserted).
- **MaxPool.** zennit uses the gradient (all relevance to torch's single argmax, the first maximum in
  row-major window order): ours ``WinnerTakeAll('first')``; without ties ``'split'`` is the same; with ties
  ``'split'`` shares equally (asserted).
- **0/0.** zennit's ``Epsilon(0)`` divides by an exact 0 and yields NaN; our ``Zero(stabilizer=0)`` passes no
  relevance through such an output (asserted).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy
import pytest
from conftest import SMALL_CNN_INPUT_SHAPE, build_small_cnn

from lrp_toolbox.composites import At, ByType, epsilon_gamma_box
from lrp_toolbox.explain import explain
from lrp_toolbox.modules import AvgPool, Convolution, Linear, MaxPool, Rect, Sequential, SumPool
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, WinnerTakeAll, WSquare, ZBox, Zero, ZPlus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import zennit_bridge as zb
from networks import lenet5

pytestmark = pytest.mark.oracle

# torch and zennit are imported by the autouse fixture below, only when an oracle test runs, so that the
# default (deselected) test run does not pay for importing torch.
torch: Any = None
zr: Any = None
Gradient: Any = None
EpsilonGammaBox: Any = None
LayerMapComposite: Any = None
Activation: Any = None
ZLinear: Any = None


@pytest.fixture(autouse=True, scope="module")
def _zennit() -> None:
    """Import torch and zennit (skip the module when either is missing)."""
    global torch, zr, Gradient, EpsilonGammaBox, LayerMapComposite, Activation, ZLinear
    torch = pytest.importorskip("torch")
    pytest.importorskip("zennit")
    from zennit import rules as zr
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonGammaBox, LayerMapComposite
    from zennit.types import Activation
    from zennit.types import Linear as ZLinear


RTOL = 1e-10
EPS = 1e-6


# ------------------------------------------------------------------------------ helpers
def assert_agree(ours: numpy.ndarray, theirs: numpy.ndarray, rtol: float = RTOL) -> None:
    """``|ours - theirs| <= rtol * (|theirs| + max|theirs|)`` elementwise, both finite."""
    assert ours.shape == theirs.shape
    assert numpy.isfinite(ours).all() and numpy.isfinite(theirs).all()
    scale = numpy.abs(theirs).max()
    assert scale > 0
    numpy.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale)


def zennit_relevance(tmodel: object, composite: object, X: numpy.ndarray, R: numpy.ndarray) -> numpy.ndarray:
    """zennit's input relevance (NHWC) for NHWC input ``X`` and output relevance ``R`` (NHWC or 2-D)."""
    x = torch.from_numpy(zb.to_nchw(X))
    r = torch.from_numpy(zb.to_nchw(R))
    with Gradient(model=tmodel, composite=composite) as attributor:
        _, relevance = attributor(x, r)
    return zb.to_nhwc(relevance.detach().numpy())


def layer_map(hook: object, types: tuple[type, ...] | None = None) -> LayerMapComposite:
    """zennit composite: ``hook`` on ``types`` (default every Linear/Conv), ``Pass`` on activations."""
    return LayerMapComposite(layer_map=[(Activation, zr.Pass()), (types or ZLinear, hook)])


def ours_single(layer: object, X: numpy.ndarray, R: numpy.ndarray, rule: object) -> numpy.ndarray:
    layer.forward(X)
    return layer.lrp(R, rule)


def one_layer_torch(layer: object, shape: tuple[int, ...]) -> object:
    return zb.to_torch(Sequential([layer]), shape)


@pytest.fixture
def linear_case(rng: numpy.random.Generator) -> tuple[Linear, numpy.ndarray, numpy.ndarray]:
    """Linear(7, 5) with a mixed-sign bias; mixed-sign inputs (4, 7); mixed-sign R."""
    layer = Linear(7, 5, rng=rng)
    layer.B = 0.3 * rng.standard_normal(5)
    return layer, rng.standard_normal((4, 7)), rng.standard_normal((4, 5))


def conv_layer(rng: numpy.random.Generator, stride=(2, 1), padding=1, dilation=(1, 1)) -> Convolution:
    layer = Convolution((3, 3, 2, 4), stride=stride, padding=padding, dilation=dilation, rng=rng)
    layer.B = 0.3 * rng.standard_normal(4)
    return layer


CONV_SHAPE = (7, 6, 2)

# (id, our rule, zennit hook) pairs that must agree on Linear and Convolution layers.
RULE_PAIRS = [
    ("epsilon", Epsilon(EPS), lambda: zr.Epsilon(epsilon=EPS)),
    ("epsilon-0.1", Epsilon(0.1), lambda: zr.Epsilon(epsilon=0.1)),
    ("epsilon-nobias", Epsilon(EPS, bias="none"), lambda: zr.Epsilon(epsilon=EPS, zero_params="bias")),
    ("zero-as-epsilon", Zero(stabilizer=EPS), lambda: zr.Epsilon(epsilon=EPS)),
    ("zplus", ZPlus(stabilizer=EPS), lambda: zr.ZPlus(stabilizer=EPS)),
    ("alpha2beta1", AlphaBeta(2.0, 1.0, stabilizer=EPS), lambda: zr.AlphaBeta(2.0, 1.0, stabilizer=EPS)),
    ("alpha1beta0", AlphaBeta(1.0, 0.0, stabilizer=EPS), lambda: zr.AlphaBeta(1.0, 0.0, stabilizer=EPS)),
    (
        "gamma-generalized",
        Gamma(0.25, "generalized", stabilizer=EPS),
        lambda: zr.Gamma(gamma=0.25, stabilizer=EPS),
    ),
    ("zbox", ZBox(-2.0, 1.5, stabilizer=EPS), lambda: zr.ZBox(low=-2.0, high=1.5, stabilizer=EPS)),
    ("flat", Flat(stabilizer=EPS), lambda: zr.Flat(stabilizer=EPS)),
    ("wsquare-b2", WSquare(stabilizer=EPS, bias="squared"), lambda: zr.WSquare(stabilizer=EPS)),
    (
        "wsquare-nobias",
        WSquare(stabilizer=EPS),
        lambda: zr.WSquare(stabilizer=EPS, zero_params="bias"),
    ),
]
PAIR_IDS = [p[0] for p in RULE_PAIRS]


# ------------------------------------------------------------------------------- layers
@pytest.mark.parametrize(("name", "ours_rule", "hook"), RULE_PAIRS, ids=PAIR_IDS)
def test_linear(name, ours_rule, hook, linear_case) -> None:
    layer, X, R = linear_case
    theirs = zennit_relevance(one_layer_torch(layer, (7,)), layer_map(hook()), X, R)
    assert_agree(ours_single(layer, X, R, ours_rule), theirs)


@pytest.mark.parametrize(("name", "ours_rule", "hook"), RULE_PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [((2, 1), 1, (1, 1)), ((1, 2), 2, (2, 1)), ((1, 1), 0, (1, 1))],
    ids=["stride21-pad1", "stride12-pad2-dil21", "valid"],
)
def test_convolution(name, ours_rule, hook, stride, padding, dilation, rng) -> None:
    layer = conv_layer(rng, stride, padding, dilation)
    X = rng.standard_normal((3, *CONV_SHAPE))
    R = rng.standard_normal((3, *layer.output_shape(CONV_SHAPE)))
    theirs = zennit_relevance(one_layer_torch(layer, CONV_SHAPE), layer_map(hook()), X, R)
    assert_agree(ours_single(layer, X, R, ours_rule), theirs)


@pytest.mark.parametrize(
    ("name", "ours_rule", "hook"), [p for p in RULE_PAIRS if p[0] in ("epsilon", "zplus", "alpha2beta1")]
)
def test_convolution_asymmetric_padding(name, ours_rule, hook, rng) -> None:
    """Asymmetric padding becomes a ``ZeroPad2d`` in torch; rules that only see ``x_i w_ij`` agree.

    (Flat and ZBox do not: zennit feeds ones / the bounds into the already padded input, so they count
    the padding; ours counts real inputs only.)
    """
    layer = conv_layer(rng, (1, 1), ((0, 2), (1, 0)))
    X = rng.standard_normal((2, *CONV_SHAPE))
    R = rng.standard_normal((2, *layer.output_shape(CONV_SHAPE)))
    theirs = zennit_relevance(one_layer_torch(layer, CONV_SHAPE), layer_map(hook()), X, R)
    assert_agree(ours_single(layer, X, R, ours_rule), theirs)


def test_zbox_per_channel_bounds(rng) -> None:
    """Per-channel bounds: ours ``(C,)`` broadcast over NHWC, zennit ``(1, C, 1, 1)``."""
    layer = conv_layer(rng)
    low, high = numpy.array([-1.5, -0.5]), numpy.array([0.5, 2.0])
    X = rng.uniform(low, high, size=(2, *CONV_SHAPE))
    R = rng.standard_normal((2, *layer.output_shape(CONV_SHAPE)))
    hook = zr.ZBox(
        low=torch.from_numpy(low).reshape(1, 2, 1, 1),
        high=torch.from_numpy(high).reshape(1, 2, 1, 1),
        stabilizer=EPS,
    )
    theirs = zennit_relevance(one_layer_torch(layer, CONV_SHAPE), layer_map(hook), X, R)
    assert_agree(ours_single(layer, X, R, ZBox(low, high, stabilizer=EPS)), theirs)


POOL_SHAPE = (6, 7, 3)


def _avgpool_torch(layer: object) -> object:
    return torch.nn.Sequential(torch.nn.AvgPool2d(layer.pool, stride=layer.stride)).double()


@pytest.mark.parametrize("rule", [Zero(stabilizer=EPS), Epsilon(EPS)], ids=["zero", "epsilon"])
@pytest.mark.parametrize(("pool", "stride"), [((2, 2), (2, 2)), ((3, 2), (1, 2))], ids=["2x2", "3x2-overlap"])
def test_avgpool_is_norm(rule, pool, stride, rng) -> None:
    """Our AvgPool under ``Zero(ε)``/``Epsilon(ε)`` = zennit ``Norm(ε)`` (signed ε on the mean)."""
    layer = AvgPool(pool, stride)
    X = rng.standard_normal((2, *POOL_SHAPE))
    R = rng.standard_normal((2, *layer.output_shape(POOL_SHAPE)))
    theirs = zennit_relevance(_avgpool_torch(layer), layer_map(zr.Norm(EPS), (torch.nn.AvgPool2d,)), X, R)
    assert_agree(ours_single(layer, X, R, rule), theirs)


@pytest.mark.parametrize(("pool", "stride"), [((2, 2), (2, 2)), ((3, 2), (1, 2))], ids=["2x2", "3x2-overlap"])
def test_sumpool_stabiliser_acts_on_the_raw_sum(pool, stride, rng) -> None:
    """SumPool (``S/sqrt(k)``) rules act on ``S``: ``Zero(k ε)`` = zennit ``Norm(ε)`` on the AvgPool2d,
    ``Zero(ε)`` = ``Norm(ε / k)``. The output scaling (1/sqrt(k) vs 1/k) does not enter the relevance."""
    layer = SumPool(pool, stride)
    k = layer.window_size
    X = rng.standard_normal((2, *POOL_SHAPE))
    R = rng.standard_normal((2, *layer.output_shape(POOL_SHAPE)))
    tmodel = _avgpool_torch(layer)
    avg = (torch.nn.AvgPool2d,)
    assert_agree(
        ours_single(layer, X, R, Zero(stabilizer=k * EPS)),
        zennit_relevance(tmodel, layer_map(zr.Norm(EPS), avg), X, R),
    )
    assert_agree(
        ours_single(layer, X, R, Zero(stabilizer=EPS)),
        zennit_relevance(tmodel, layer_map(zr.Norm(EPS / k), avg), X, R),
    )


@pytest.mark.parametrize("cls", [SumPool, AvgPool])
def test_pool_after_relu_zplus_and_alphabeta(cls, rng) -> None:
    """Non-negative pool inputs: our ``ZPlus`` is zennit's ``Norm``; our ``AlphaBeta(2, 1)`` passes ``α R``
    (empty negative part) = 2 x zennit's ``Norm`` (documented: the original's α-β on SumPool)."""
    layer = cls((2, 2), (2, 2))
    k = layer.window_size if cls is SumPool else 1
    X = numpy.abs(rng.standard_normal((2, *POOL_SHAPE)))
    R = rng.standard_normal((2, *layer.output_shape(POOL_SHAPE)))
    theirs = zennit_relevance(_avgpool_torch(layer), layer_map(zr.Norm(EPS), (torch.nn.AvgPool2d,)), X, R)
    assert_agree(ours_single(layer, X, R, ZPlus(stabilizer=k * EPS)), theirs)
    assert_agree(ours_single(layer, X, R, AlphaBeta(2.0, 1.0, stabilizer=k * EPS)), 2.0 * theirs)


@pytest.mark.parametrize("ties", ["first", "split"])
@pytest.mark.parametrize(("pool", "stride"), [((2, 2), (2, 2)), ((3, 3), (2, 1))], ids=["2x2", "3x3-overlap"])
def test_maxpool_without_ties(ties, pool, stride, rng) -> None:
    """Continuous random inputs (no ties): both tie policies equal zennit's gradient."""
    layer = MaxPool(pool, stride)
    X = rng.standard_normal((2, *POOL_SHAPE))
    R = rng.standard_normal((2, *layer.output_shape(POOL_SHAPE)))
    tmodel = torch.nn.Sequential(torch.nn.MaxPool2d(pool, stride=stride)).double()
    theirs = zennit_relevance(tmodel, layer_map(zr.Epsilon(EPS)), X, R)  # no hook on MaxPool2d
    assert_agree(ours_single(layer, X, R, WinnerTakeAll(ties)), theirs)


def test_maxpool_ties_single_winner_vs_split() -> None:
    """Tied windows: ``'first'`` = zennit (first maximum, row-major); ``'split'`` shares equally."""
    X = numpy.array([[[1.0, 1.0], [0.5, 0.2]], [[0.0, 0.0], [0.0, 0.0]]])  # two 2x2 windows stacked
    X = X.reshape(1, 4, 2, 1)
    layer = MaxPool((2, 2), (2, 2))
    R = numpy.array([3.0, 2.0]).reshape(1, 2, 1, 1)
    tmodel = torch.nn.Sequential(torch.nn.MaxPool2d(2, stride=2)).double()
    x = torch.from_numpy(zb.to_nchw(X)).requires_grad_()
    (grad,) = torch.autograd.grad(tmodel(x), x, torch.from_numpy(zb.to_nchw(R)))
    theirs = zb.to_nhwc(grad.numpy())
    numpy.testing.assert_array_equal(ours_single(layer, X, R, WinnerTakeAll("first")), theirs)
    split = ours_single(layer, X, R, WinnerTakeAll("split"))
    expected = numpy.array([[1.5, 1.5], [0, 0], [0.5, 0.5], [0.5, 0.5]]).reshape(1, 4, 2, 1)
    numpy.testing.assert_allclose(split, expected, rtol=0, atol=1e-15)
    numpy.testing.assert_allclose(split.sum(), theirs.sum(), rtol=1e-15)


# ------------------------------------------------------------------- documented differences
def test_flat_exact_vs_zennit(linear_case) -> None:
    """Our exact ``Flat()`` = zennit ``Flat`` (``n + 1e-6``) times ``(n + 1e-6) / n`` (Linear: ``n = m``)."""
    layer, X, R = linear_case
    theirs = zennit_relevance(one_layer_torch(layer, (7,)), layer_map(zr.Flat(stabilizer=EPS)), X, R)
    assert_agree(ours_single(layer, X, R, Flat()), theirs * (layer.m + EPS) / layer.m)
    assert not numpy.allclose(ours_single(layer, X, R, Flat()), theirs, rtol=1e-9, atol=0)


def test_wsquare_default_is_zennit_with_bias_zeroed(linear_case) -> None:
    """Our default ``WSquare()`` drops the bias: zennit with ``zero_params='bias'``, not zennit's ``b²``."""
    layer, X, R = linear_case
    tmodel = one_layer_torch(layer, (7,))
    nobias = zennit_relevance(tmodel, layer_map(zr.WSquare(stabilizer=0.0, zero_params="bias")), X, R)
    squared = zennit_relevance(tmodel, layer_map(zr.WSquare(stabilizer=0.0)), X, R)
    ours = ours_single(layer, X, R, WSquare())
    assert_agree(ours, nobias)
    assert not numpy.allclose(ours, squared, rtol=1e-3, atol=0)


def test_gamma_classic_equals_generalized_only_for_positive_outputs(rng) -> None:
    """Classic γ (our default) = zennit's generalized γ when ``x >= 0`` and every ``z_j > 0``; else not."""
    layer = Linear(7, 5, rng=rng)
    X = numpy.abs(rng.standard_normal((4, 7)))
    R = rng.standard_normal((4, 5))
    hook = lambda: zr.Gamma(gamma=0.25, stabilizer=EPS)  # noqa: E731
    layer.B = numpy.full(5, 10.0)  # every output positive
    theirs = zennit_relevance(one_layer_torch(layer, (7,)), layer_map(hook()), X, R)
    assert (layer.forward(X) > 0).all()
    assert_agree(ours_single(layer, X, R, Gamma(0.25, stabilizer=EPS)), theirs)
    layer.B = numpy.full(5, -0.5)  # some outputs negative
    assert (layer.forward(X) < 0).any()
    theirs = zennit_relevance(one_layer_torch(layer, (7,)), layer_map(hook()), X, R)
    assert not numpy.allclose(ours_single(layer, X, R, Gamma(0.25, stabilizer=EPS)), theirs, rtol=1e-3)
    assert_agree(ours_single(layer, X, R, Gamma(0.25, "generalized", stabilizer=EPS)), theirs)


def test_zero_output_nan_in_zennit_zero_relevance_here(rng) -> None:
    """LRP-0 without stabiliser on an output with ``z_j = 0``: zennit's ``Epsilon(0)`` gives NaN
    (0/0 reaches every input), our ``Zero(stabilizer=0)`` passes nothing through that output and equals
    zennit on the layer without it."""
    layer = Linear(6, 4, rng=rng)
    layer.W[:, 2] = 0.0
    layer.B = numpy.array([0.1, -0.2, 0.0, 0.3])
    X, R = rng.standard_normal((3, 6)), rng.standard_normal((3, 4))
    nan = zennit_relevance(one_layer_torch(layer, (6,)), layer_map(zr.Epsilon(epsilon=0.0)), X, R)
    assert numpy.isnan(nan).any()
    keep = [0, 1, 3]
    reduced = Linear(6, 3, rng=rng)
    reduced.W, reduced.B = layer.W[:, keep].copy(), layer.B[keep].copy()
    theirs = zennit_relevance(
        one_layer_torch(reduced, (6,)), layer_map(zr.Epsilon(epsilon=0.0)), X, R[:, keep].copy()
    )
    assert_agree(ours_single(layer, X, R, Zero(stabilizer=0.0)), theirs)


# ------------------------------------------------------------------------------ networks
def small_mlp(rng: numpy.random.Generator) -> Sequential:
    layers = [Linear(12, 16, rng=rng), Rect(), Linear(16, 16, rng=rng), Rect(), Linear(16, 5, rng=rng)]
    for layer in layers:
        if "B" in layer.params:
            layer.B = 0.1 * rng.standard_normal(layer.B.shape)
    return Sequential(layers)


def _network(kind: str, rng: numpy.random.Generator) -> tuple[Sequential, tuple[int, ...]]:
    if kind == "mlp":
        return small_mlp(rng), (12,)
    if kind == "small_cnn":
        return build_small_cnn(rng), SMALL_CNN_INPUT_SHAPE
    model, shape = lenet5(seed=3)
    for layer in model.modules:
        if "B" in layer.params:
            layer.B = 0.05 * rng.standard_normal(layer.B.shape)
    return model, shape


NETWORK_KINDS = ["mlp", "small_cnn", "lenet5"]


@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_conversion_forward(kind, rng) -> None:
    """The converted torch model computes the same logits (SoftMax dropped, sqrt(k) folded)."""
    model, shape = _network(kind, rng)
    X = rng.standard_normal((3, *shape))
    model.forward(X)
    logits = model.modules[-1].cache.x if type(model.modules[-1]).__name__ == "SoftMax" else model.forward(X)
    tmodel = zb.to_torch(model, shape)
    out = tmodel(torch.from_numpy(zb.to_nchw(X))).detach().numpy()
    numpy.testing.assert_allclose(out, logits, rtol=1e-12, atol=1e-12 * numpy.abs(logits).max())


def _one_hot_start(model: Sequential, X: numpy.ndarray) -> numpy.ndarray:
    model.forward(X)
    last = model.modules[-1]
    logits = last.cache.x if type(last).__name__ == "SoftMax" else last.cache.y
    R = numpy.zeros_like(logits)
    R[numpy.arange(len(X)), logits.argmax(axis=1)] = 1.0
    return R


@pytest.mark.parametrize("rule", zb.RULES)
@pytest.mark.parametrize("kind", NETWORK_KINDS)
def test_network(kind, rule, rng) -> None:
    """Whole networks through ``explain(init='one')`` vs zennit (same one-hot start at the argmax)."""
    model, shape = _network(kind, rng)
    X = rng.standard_normal((3, *shape))
    R0 = _one_hot_start(model, X)
    ours = explain(model, X, rule=zb.our_composite(rule, model), init="one")
    theirs = zennit_relevance(zb.to_torch(model, shape), zb.zennit_composite(rule), X, R0)
    assert_agree(ours, theirs)


def test_network_epsilon_gamma_box(rng) -> None:
    """``epsilon_gamma_box`` with zennit's generalized γ and stabilisers = zennit ``EpsilonGammaBox``."""
    model, shape = _network("small_cnn", rng)
    X = rng.uniform(-1.0, 1.0, size=(3, *shape))
    R0 = _one_hot_start(model, X)
    comp = epsilon_gamma_box(-1.0, 1.0, epsilon=EPS, gamma_variant="generalized", stabilizer=EPS)
    pools = [At(i, Zero(EPS * m.window_size)) for i, m in enumerate(model.modules) if isinstance(m, SumPool)]
    comp = comp.then(ByType(MaxPool, WinnerTakeAll("first")), *pools)
    ours = explain(model, X, rule=comp, init="one")
    zcomp = EpsilonGammaBox(low=-1.0, high=1.0, epsilon=EPS, stabilizer=EPS)
    theirs = zennit_relevance(zb.to_torch(model, shape), zcomp, X, R0)
    assert_agree(ours, theirs)


def test_tolerance_is_meaningful(rng) -> None:
    """Guard: a stabiliser off by a factor of 2 is already detected at this tolerance."""
    model, shape = _network("small_cnn", rng)
    X = rng.standard_normal((3, *shape))
    R0 = _one_hot_start(model, X)
    ours = explain(model, X, rule=zb.our_composite("epsilon", model, eps=2 * EPS), init="one")
    theirs = zennit_relevance(zb.to_torch(model, shape), zb.zennit_composite("epsilon"), X, R0)
    with pytest.raises(AssertionError):
        assert_agree(ours, theirs)
    assert math.isfinite(float(numpy.abs(ours - theirs).max()))
