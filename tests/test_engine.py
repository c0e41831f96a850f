"""Engine: delegation from Module/Sequential, presets, legacy traps, validation, layerwise relevance,
explain() targets and initialisations, the ledger."""

from __future__ import annotations

import numpy
import pytest
from conftest import SMALL_CNN_INPUT_SHAPE, build_small_cnn

from lrp_toolbox.composites import At, Composite, Everywhere, First, epsilon_alpha2_beta1, epsilon_plus
from lrp_toolbox.engine import layerwise_lrp, lrp_with_ledger, resolve_rules, sequential_lrp
from lrp_toolbox.errors import NotForwardedError, RuleError, ShapeError
from lrp_toolbox.explain import explain
from lrp_toolbox.ledger import TERMS, ConservationError, Ledger, check_conservation
from lrp_toolbox.modules import Linear, Rect, Sequential, SoftMax
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Pass, WinnerTakeAll, WSquare, ZBox, Zero, ZPlus


@pytest.fixture
def cnn():
    return build_small_cnn(numpy.random.default_rng(11))


@pytest.fixture
def X():
    return numpy.random.default_rng(12).standard_normal((4, *SMALL_CNN_INPUT_SHAPE))


def out_relevance(model, X):
    Y = model.forward(X)
    return Y * (Y.max(axis=1, keepdims=True) == Y)


def manual_chain(model, R, rules):
    for layer, rule in zip(reversed(model.modules), reversed(rules), strict=True):
        R = rule.propagate(layer, R)
    return R


SPECS = [
    ("epsilon", 0.01),
    ("alphabeta", 2),
    ("simple", None),
    ("ww", None),
    ("flat", None),
    (ZPlus(), None),
    (epsilon_plus(), None),
    (epsilon_alpha2_beta1(), None),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_sequential_equals_layer_by_layer_chain(cnn, X, spec):
    R = out_relevance(cnn, X)
    rules = resolve_rules(cnn, *spec)
    want = manual_chain(cnn, R, rules)
    assert numpy.array_equal(cnn.lrp(R, *spec), want)
    assert numpy.array_equal(sequential_lrp(cnn, R, *spec), want)
    # module-by-module through Module.lrp gives the same numbers
    Rm = R
    for layer in reversed(cnn.modules):
        Rm = layer.lrp(Rm, *spec)
    assert numpy.array_equal(Rm, want)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_lrp_aware_model_bitwise(cnn, X, spec):
    R = out_relevance(cnn, X)
    plain = cnn.lrp(R, *spec)
    cnn.forward(X, lrp_aware=True)
    assert numpy.array_equal(cnn.lrp(R, *spec), plain)
    assert numpy.array_equal(cnn.lrp(R, *spec), plain)


def test_layerwise(cnn, X):
    R = out_relevance(cnn, X)
    Rs = cnn.layerwise_lrp(R, "epsilon", 0.1)
    assert len(Rs) == len(cnn) + 1
    assert Rs[-1] is R
    assert numpy.array_equal(Rs[0], cnn.lrp(R, "epsilon", 0.1))
    for i, layer in enumerate(cnn.modules):
        assert Rs[i].shape == layer.cache.x.shape
        assert numpy.array_equal(Rs[i], layer.lrp(Rs[i + 1], "epsilon", 0.1))
    assert numpy.array_equal(layerwise_lrp(cnn, R, "epsilon", 0.1)[0], Rs[0])


def test_string_variants_equal_rule_objects(cnn, X):
    R = out_relevance(cnn, X)
    assert numpy.array_equal(cnn.lrp(R, "epsilon", 0.25), cnn.lrp(R, Epsilon(0.25)))
    assert numpy.array_equal(cnn.lrp(R, "eps_slow", 0.25), cnn.lrp(R, Epsilon(0.25)))
    ab = AlphaBeta(2, 1, stabilizer=1e-16)
    assert numpy.array_equal(cnn.lrp(R, "alpha", 2), cnn.lrp(R, ab))
    assert numpy.array_equal(cnn.lrp(R, "alphabeta_slow", 2), cnn.lrp(R, ab))
    assert numpy.array_equal(cnn.lrp(R, "FLAT"), cnn.lrp(R, Flat()))
    assert numpy.array_equal(cnn.lrp(R, "zplus"), cnn.lrp(R, ZPlus()))
    assert numpy.array_equal(cnn.lrp(R), cnn.lrp(R, "simple"))
    assert numpy.array_equal(cnn.lrp(R, "slow"), cnn.lrp(R, "none"))
    assert resolve_rules(cnn, "w^2") == resolve_rules(cnn, "ww")
    ww = cnn.lrp(R, "ww")
    assert numpy.array_equal(cnn.lrp(R, "w^2"), ww)
    assert not numpy.allclose(ww, cnn.lrp(R, "simple"))  # a different rule, not the default


def test_drop_softmax_output_layer(cnn, X):
    n = len(cnn.modules)
    Y = cnn.forward(X)
    assert isinstance(cnn.modules[-1], SoftMax)
    assert cnn.drop_softmax_output_layer() is True
    assert len(cnn.modules) == n - 1 and not isinstance(cnn.modules[-1], SoftMax)
    logits = cnn.forward(X)
    numpy.testing.assert_allclose(Y, numpy.exp(logits) / numpy.exp(logits).sum(axis=1, keepdims=True))
    assert cnn.drop_softmax_output_layer() is False  # nothing left to drop
    assert len(cnn.modules) == n - 1


def test_legacy_tables(cnn):
    simple = resolve_rules(cnn, "simple")
    assert simple[5] == Zero(stabilizer=1e-12)  # SumPool
    assert simple[0] == Zero(stabilizer=1e-16) and simple[7] == Zero(stabilizer=1e-16)
    assert simple[2] == WinnerTakeAll() and simple[1] == Pass()
    ww = resolve_rules(cnn, "ww")
    assert ww[2] == Flat() and ww[0] == WSquare() and ww[5] == WSquare()
    assert resolve_rules(cnn, "flat")[2] == Flat()
    assert resolve_rules(cnn, Epsilon(0.1))[2] == WinnerTakeAll()


def test_presets_apply_only_without_arguments(cnn, X):
    R = out_relevance(cnn, X)
    cnn.set_lrp_parameters("alpha", 1.0)
    cnn.modules[0].set_lrp_parameters("ww")  # the original demo's composite
    table = resolve_rules(cnn)
    assert table[0] == WSquare() and table[3] == AlphaBeta(1, 0, stabilizer=1e-16)
    assert table[2] == WinnerTakeAll()
    want = manual_chain(cnn, R, table)
    assert numpy.array_equal(cnn.lrp(R), want)
    assert numpy.array_equal(cnn.lrp(R, "epsilon", 0.1), cnn.lrp(R, Epsilon(0.1)))  # overrides
    cnn.modules[3].set_lrp_parameters(Epsilon(0.5))
    assert resolve_rules(cnn)[3] == Epsilon(0.5)
    cnn.modules[3].set_lrp_parameters("epsilon")  # param None
    with pytest.raises(RuleError, match=r"layer 3 .* preset: .*needs a parameter"):
        cnn.lrp(R)


def test_traps_raise(cnn, X):
    R = out_relevance(cnn, X)
    with pytest.raises(RuleError, match="ambiguous"):
        cnn.lrp(R, None, 0.5)
    with pytest.raises(RuleError, match="needs a parameter"):
        cnn.lrp(R, "epsilon")
    with pytest.raises(RuleError, match="unknown lrp variant"):
        cnn.lrp(R, "lrp-epsilon", 0.1)
    with pytest.raises(RuleError, match="only meaningful"):
        cnn.lrp(R, Epsilon(0.1), 0.1)
    with pytest.raises(RuleError):
        cnn.lrp(R, 0.1)


def test_validation_before_arithmetic(cnn, X):
    R = out_relevance(cnn, X)
    with pytest.raises(ShapeError, match="output shape"):
        cnn.lrp(R[:, :3], "epsilon", 0.1)
    with pytest.raises(TypeError, match="dtype"):
        cnn.lrp(R.astype(numpy.float32), "epsilon", 0.1)
    bad = R.copy()
    bad[0, 0] = numpy.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        cnn.lrp(bad, "epsilon", 0.1)
    bad[0, 0] = numpy.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        cnn.lrp(bad, "epsilon", 0.1)
    for value in (numpy.nan, numpy.inf):
        Xbad = X.copy()
        Xbad[1, 2, 3, 0] = value
        with numpy.errstate(invalid="ignore"), pytest.raises(ValueError, match="logits contain NaN or Inf"):
            cnn.forward(Xbad)  # the SoftMax output layer refuses; without it, LRP refuses (below)
        body = Sequential(cnn.modules[:-1])
        with numpy.errstate(invalid="ignore"):
            body.forward(Xbad)
        with pytest.raises(ValueError, match=r"^layer 0 .*forward input contains NaN or Inf"):
            body.lrp(R, "epsilon", 0.1)
    cnn.forward(X)
    lin = Sequential([Linear(3, 2)])
    lin.forward(numpy.array([[1.0, numpy.nan, 0.0]]))
    with pytest.raises(ValueError, match="forward input contains NaN"):
        lin.lrp(numpy.ones((1, 2)), "epsilon", 0.1)
    fresh = build_small_cnn(numpy.random.default_rng(0))
    with pytest.raises(NotForwardedError):
        fresh.lrp(R, "epsilon", 0.1)


def test_dead_relus_zero_windows_and_zero_input_stay_finite(cnn):
    X = numpy.zeros((3, *SMALL_CNN_INPUT_SHAPE))
    X[1] = -5.0  # Rect kills everything after the first conv (negative biases aside)
    R = out_relevance(cnn, X)
    for spec in [*SPECS, (AlphaBeta(2, 1, stabilizer=0.0), None), (Epsilon(0.0), None)]:
        got = cnn.lrp(R, *spec)
        assert numpy.isfinite(got).all()


# ------------------------------------------------------------------ explain
def test_explain_targets(cnn, X):
    Y = cnn.forward(X)
    logits = cnn.modules[-1].cache.x
    pred = logits.argmax(axis=1)
    body = Sequential(cnn.modules[:-1])  # the SoftMax is not explained: relevance starts at the logits

    def manual(classes, scale):
        body.forward(X)
        R = numpy.zeros_like(logits)
        R[numpy.arange(len(X)), classes] = scale[numpy.arange(len(X)), classes]
        return body.lrp(R, "epsilon", 0.1)

    assert numpy.array_equal(explain(cnn, X, rule="epsilon", param=0.1), manual(pred, logits))
    assert numpy.array_equal(explain(cnn, X, 2, rule=Epsilon(0.1)), manual(numpy.full(4, 2), logits))
    t = numpy.array([0, 4, 1, 1])
    assert numpy.array_equal(explain(cnn, X, t, rule=Epsilon(0.1)), manual(t, logits))
    ones = numpy.ones_like(logits)
    assert numpy.array_equal(explain(cnn, X, t, rule=Epsilon(0.1), init="one"), manual(t, ones))
    assert numpy.array_equal(explain(cnn, X, t, rule=Epsilon(0.1), init="probability"), manual(t, Y))
    every = explain(cnn, X, "all", rule=Epsilon(0.1))
    assert every.shape == (4, 5, *SMALL_CNN_INPUT_SHAPE)
    for c in range(5):
        assert numpy.array_equal(every[:, c], manual(numpy.full(4, c), logits))


def test_explain_without_softmax_and_probability(cnn, X):
    body = Sequential(cnn.modules[:-1])
    logits = body.forward(X)
    p = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    with_sm = explain(cnn, X, 3, rule=Epsilon(0.1), init="probability")
    without = explain(body, X, 3, rule=Epsilon(0.1), init="probability")
    numpy.testing.assert_allclose(without, with_sm, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"target": 5}, ValueError),
        ({"target": numpy.array([0, 1])}, ValueError),
        ({"target": numpy.array([0.0, 1, 2, 3])}, ValueError),
        ({"target": "every"}, ValueError),
        ({"init": "softmax"}, ValueError),
        ({"rule": "nonsense"}, RuleError),
    ],
)
def test_explain_errors(cnn, X, kwargs, err):
    kwargs = {"rule": Epsilon(0.1), **kwargs}
    with pytest.raises(err):
        explain(cnn, X, **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        explain(cnn, X * numpy.nan, rule=Epsilon(0.1))


# ------------------------------------------------------------------ ledger
@pytest.mark.parametrize("spec", [*SPECS, (AlphaBeta(2, 1, stabilizer=0.0), None)], ids=repr)
def test_ledger_decomposition_is_exact(cnn, X, spec):
    R = out_relevance(cnn, X)
    Rin, ledger = lrp_with_ledger(cnn, R, *spec)
    assert len(ledger) == len(cnn)
    assert [b.index for b in ledger] == list(range(len(cnn)))
    numpy.testing.assert_allclose(ledger.layers[0].passed, Rin.reshape(len(X), -1).sum(axis=1), rtol=1e-12)
    numpy.testing.assert_allclose(ledger.layers[-1].upper, R.sum(axis=1), rtol=1e-12)
    assert check_conservation(ledger, rtol=1e-9, atol=1e-12, allow=TERMS) == []
    assert "upper" in ledger.table() and str(ledger)


def test_check_conservation_names_the_layer(cnn, X):
    R = out_relevance(cnn, X)
    _, ledger = lrp_with_ledger(cnn, R, "epsilon", 0.5)
    with pytest.raises(ConservationError, match=r"layer 7 \(Linear\(12, 5\), rule Epsilon"):
        check_conservation(ledger, rtol=1e-9)
    msgs = check_conservation(ledger, rtol=1e-9, raise_error=False)
    assert msgs and all("layer" in m for m in msgs)
    assert check_conservation(ledger, rtol=1e-9, atol=1e-12, allow=("bias", "stabilizer")) == []
    with pytest.raises(ValueError, match="unknown ledger term"):
        check_conservation(ledger, allow=("leak",))


def test_ledger_conservation_flat_and_wsquare(cnn, X):
    R = out_relevance(cnn, X)
    for spec in ("flat", "ww"):
        _, ledger = lrp_with_ledger(cnn, R, spec)
        assert check_conservation(ledger, rtol=1e-12) == []


def test_explain_with_ledger(cnn, X):
    ledger = Ledger()
    R = explain(cnn, X, rule=Epsilon(0.1), ledger=ledger)
    assert len(ledger) == len(cnn) - 1  # the SoftMax is not explained
    numpy.testing.assert_allclose(ledger.layers[0].passed, R.reshape(len(X), -1).sum(axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="single target"):
        explain(cnn, X, "all", rule=Epsilon(0.1), ledger=Ledger())


def test_module_lrp_single_layer_and_composite():
    lin = Linear(3, 2, rng=numpy.random.default_rng(0))
    x = numpy.array([[1.0, -2.0, 0.5]])
    lin.forward(x)
    R = numpy.array([[1.0, 2.0]])
    assert numpy.array_equal(lin.lrp(R, Composite(Everywhere(ZPlus()))), lin.lrp(R, ZPlus()))
    with pytest.raises(RuleError, match="no rule assigned"):  # region entries skip misfits
        lin.lrp(R, Composite(Everywhere(Pass())))
    with pytest.raises(RuleError, match=r"layer 0 \(Linear\(3, 2\)\): rule Pass\(\) does not apply"):
        lin.lrp(R, Composite(At(0, Pass())))
    relu = Rect()
    relu.forward(x)
    assert numpy.array_equal(relu.lrp(R[:, :1].repeat(3, axis=1), ZPlus()), R[:, :1].repeat(3, axis=1))


def test_call_scope_memoises_within_one_rule_call_only():
    from lrp_toolbox.modules.base import ForwardCache

    cache = ForwardCache(numpy.zeros(2), numpy.zeros(2))
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cache.get("k", compute) == 1 and cache.get("k", compute) == 2  # plain forward: no memo
    with cache.call_scope():
        assert cache.get("k", compute) == 3 and cache.get("k", compute) == 3
    assert cache.scratch is None and cache.get("k", compute) == 4
    aware = ForwardCache(numpy.zeros(2), numpy.zeros(2), memo={})
    with aware.call_scope():
        aware.get("k", compute)
    assert aware.scratch is None and "k" in aware.memo


def test_forward_overflow_is_an_error_naming_the_layer():
    """A finite input whose forward pass overflows: LRP would return ±Inf or NaN."""
    model = Sequential([Linear(2, 2), Rect(), Linear(2, 2)])
    model.modules[0].W = numpy.array([[1.0, 1.0], [1.0, -1.0]])
    model.modules[2].W = numpy.eye(2)
    with numpy.errstate(over="ignore", invalid="ignore"):
        Y = model.forward(numpy.array([[1e308, 1e308]]))
    assert not numpy.isfinite(Y).all()
    for rule in (Epsilon(), ZPlus(), ZBox(-1e308, 1e308), Flat()):
        with pytest.raises(
            FloatingPointError, match=r"layer 0 \(Linear\(2, 2\)\) overflowed in the forward pass"
        ):
            model.lrp(numpy.ones((1, 2)), rule)
        with numpy.errstate(over="ignore", invalid="ignore"):
            for init in ("logit", "one", "probability"):  # R built from the overflowed output
                with pytest.raises(FloatingPointError, match=r"layer 0 \(Linear\(2, 2\)\) overflowed"):
                    explain(model, numpy.array([[1e308, 1e308]]), rule=rule, init=init)


def test_relevance_overflow_is_an_error():
    """A finite forward, but relevance beyond float64's range: an error, not Inf."""
    model = Sequential([Linear(1, 1)])
    model.modules[0].W = numpy.array([[1e-300]])
    model.forward(numpy.array([[1e-10]]))  # z = 1e-310: subnormal, finite
    with numpy.errstate(over="ignore"), pytest.raises(FloatingPointError, match="a rule overflowed"):
        model.lrp(numpy.array([[1e300]]), Zero(stabilizer=0.0))


def test_empty_batch_with_a_ledger():
    model = Sequential([Linear(4, 3), Rect(), Linear(3, 2)])
    model.forward(numpy.ones((0, 4)))
    R, ledger = lrp_with_ledger(model, numpy.zeros((0, 2)), Epsilon())
    assert R.shape == (0, 4)
    assert all(b.upper.shape == (0,) for b in ledger.layers)
    assert check_conservation(ledger, allow="bias") == []


def test_zbox_bounds_are_checked_before_any_relevance_arithmetic(monkeypatch):
    model = Sequential([Linear(4, 3), Rect(), Linear(3, 2)])
    model.forward(numpy.ones((2, 4)))
    calls = []
    monkeypatch.setattr(Epsilon, "propagate", lambda self, layer, R, book=None: calls.append(layer))
    bad = Composite(Everywhere(Epsilon()), First(ZBox(numpy.zeros(3), numpy.ones(3))))
    with pytest.raises(RuleError, match=r"^layer 0 \(Linear\(4, 3\)\): ZBox: bound of shape \(3,\)"):
        model.lrp(numpy.ones((2, 2)), bad)
    assert calls == []
