"""Composites: entries, precedence, validation, printable tables and the presets."""

from __future__ import annotations

import numpy
import pytest
from conftest import SMALL_CNN_INPUT_SHAPE, build_small_cnn

from lrp_toolbox.composites import (
    At,
    ByType,
    Composite,
    Everywhere,
    First,
    InRange,
    deep_taylor,
    epsilon_alpha2_beta1,
    epsilon_alpha2_beta1_flat,
    epsilon_gamma_box,
    epsilon_plus,
    epsilon_plus_flat,
)
from lrp_toolbox.errors import RuleError
from lrp_toolbox.modules import Convolution, Linear, MaxPool, Rect, Sequential, SumPool
from lrp_toolbox.rules import AlphaBeta, Epsilon, Flat, Gamma, Pass, WinnerTakeAll, ZBox, Zero, ZPlus

# small_cnn: 0 Conv, 1 Rect, 2 MaxPool, 3 Conv, 4 Tanh, 5 SumPool, 6 Flatten, 7 Linear, 8 SoftMax


@pytest.fixture
def cnn():
    return build_small_cnn(numpy.random.default_rng(21))


def test_defaults_and_everywhere(cnn):
    rules = Composite(Everywhere(Epsilon(0.1))).resolve(cnn).rules
    assert rules == (
        Epsilon(0.1),
        Pass(),
        WinnerTakeAll(),
        Epsilon(0.1),
        Pass(),
        Epsilon(0.1),
        Pass(),
        Epsilon(0.1),
        Pass(),
    )


def test_later_entries_override(cnn):
    c = Composite(
        Everywhere(Epsilon(0.1)),
        ByType(Convolution, ZPlus()),
        First(Flat()),
        At(-2, Zero()),
        Everywhere(WinnerTakeAll("first")),
    )
    rules = c.resolve(cnn).rules
    assert rules[0] == Flat() and rules[3] == ZPlus() and rules[7] == Zero()
    assert rules[5] == Epsilon(0.1) and rules[2] == WinnerTakeAll("first")
    # reversed order: the general entry wins
    rules = Composite(ByType(Convolution, ZPlus()), Everywhere(Epsilon(0.1))).resolve(cnn).rules
    assert rules[0] == rules[3] == Epsilon(0.1)


def test_inrange_is_soft_and_at_accepts_lists(cnn):
    c = Composite(Everywhere(Zero()), InRange(3, None, Epsilon(0.2)), At([0, 2], Flat()))
    rules = c.resolve(cnn).rules
    assert rules[:4] == (Flat(), Pass(), Flat(), Epsilon(0.2))
    assert rules[4] == Pass() and rules[5] == rules[7] == Epsilon(0.2)


def test_first_of_type(cnn):
    rules = Composite(Everywhere(Zero()), First(Epsilon(1.0), types=SumPool)).resolve(cnn).rules
    assert rules[5] == Epsilon(1.0) and rules[0] == Zero()
    rules = Composite(Everywhere(Zero()), First(Epsilon(1.0), types=Linear)).resolve(cnn).rules
    assert rules[7] == Epsilon(1.0) and rules[0] == Zero()


@pytest.mark.parametrize(
    "composite,match",
    [
        (
            Composite(ByType(MaxPool, Epsilon(0.1))),
            r"layer 2 \(MaxPool.*rule Epsilon.*does not apply to MaxPool",
        ),
        (Composite(Everywhere(Zero()), At(1, ZPlus())), r"layer 1 \(Rect\(\)\): rule ZPlus"),
        (Composite(Everywhere(Zero()), At(0, WinnerTakeAll())), r"layer 0 \(Convolution"),
        (Composite(ByType(Convolution, ZPlus())), r"layer 5 \(SumPool.*no rule assigned"),
        (Composite(Everywhere(Zero()), At(9, Zero())), "out of range"),
        (Composite(Everywhere(Pass())), r"layer 0 .*no rule assigned"),
    ],
)
def test_validation_errors_name_index_and_layer(cnn, composite, match):
    with pytest.raises(RuleError, match=match):
        composite.resolve(cnn)
    # ... and lrp fails the same way before touching any array (the model was never forwarded)
    with pytest.raises(RuleError, match=match):
        cnn.lrp(numpy.zeros((1, 5)), composite)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Composite(Epsilon(0.1)),
        lambda: Everywhere("epsilon"),
        lambda: ByType("Linear", Zero()),
        lambda: At(1.5, Zero()),
        lambda: At(True, Zero()),
    ],
)
def test_bad_entries(make):
    with pytest.raises(RuleError):
        make()


def test_nested_sequential_rejected():
    inner = Sequential([Linear(2, 2)])
    with pytest.raises(RuleError, match="nested"):
        Composite(Everywhere(Zero())).resolve(Sequential([inner]))


def test_table_prints_index_layer_rule(cnn):
    text = str(epsilon_plus().resolve(cnn))
    lines = text.splitlines()
    assert lines[0] == "composite epsilon_plus"
    assert lines[1].split() == ["#", "layer", "rule"]
    assert len(lines) == 3 + len(cnn)
    assert "ZPlus(" in lines[3] and "Epsilon(epsilon=1e-06" in lines[3 + 7] and "Zero(" in lines[3 + 5]
    assert epsilon_plus().describe(cnn) == text


def test_presets_resolved_tables(cnn):
    eps = Epsilon(1e-6)
    assert epsilon_plus().resolve(cnn).rules[::] == (
        ZPlus(),
        Pass(),
        WinnerTakeAll(),
        ZPlus(),
        Pass(),
        Zero(),
        Pass(),
        eps,
        Pass(),
    )
    assert epsilon_plus_flat().resolve(cnn).rules[0] == Flat()
    assert epsilon_plus_flat().resolve(cnn).rules[3] == ZPlus()
    assert epsilon_alpha2_beta1().resolve(cnn).rules[0] == AlphaBeta(2, 1)
    assert epsilon_alpha2_beta1().resolve(cnn).rules[7] == eps
    assert epsilon_alpha2_beta1_flat().resolve(cnn).rules[:4:3] == (Flat(), AlphaBeta(2, 1))
    egb = epsilon_gamma_box(-3.0, 3.0).resolve(cnn).rules
    assert egb[0] == ZBox(-3.0, 3.0) and egb[3] == Gamma(0.25) and egb[7] == eps and egb[5] == Zero()
    gen = epsilon_gamma_box(-3.0, 3.0, gamma_variant="generalized").resolve(cnn).rules
    assert gen[3] == Gamma(0.25, variant="generalized")
    dt = deep_taylor(-3.0, 3.0).resolve(cnn).rules
    assert dt[0] == ZBox(-3.0, 3.0) and dt[3] == dt[5] == dt[7] == ZPlus() and dt[2] == WinnerTakeAll()
    for preset in (epsilon_plus(), epsilon_alpha2_beta1(), epsilon_gamma_box(-1, 1), deep_taylor(-1, 1)):
        assert preset == preset.then()  # equal, hashable value objects
        assert hash(preset) == hash(preset.then())
        assert preset.name in repr(preset)


def test_mlp_first_weighted_layer_gets_zbox():
    mlp = Sequential([Linear(4, 3), Rect(), Linear(3, 2)])
    rules = epsilon_gamma_box(0.0, 1.0).resolve(mlp).rules
    assert rules == (ZBox(0.0, 1.0), Pass(), Epsilon(1e-6))


@pytest.mark.parametrize(
    "preset",
    [
        epsilon_plus(),
        epsilon_plus_flat(),
        epsilon_alpha2_beta1(),
        epsilon_alpha2_beta1_flat(),
        epsilon_gamma_box(-4.0, 4.0),
        deep_taylor(-4.0, 4.0),
    ],
    ids=lambda c: c.name,
)
def test_presets_run_and_match_manual_chain(cnn, preset):
    X = numpy.random.default_rng(22).standard_normal((3, *SMALL_CNN_INPUT_SHAPE))
    Y = cnn.forward(X)
    R = Y * (Y.max(axis=1, keepdims=True) == Y)
    got = cnn.lrp(R, preset)
    Rm = R
    for layer, rule in zip(reversed(cnn.modules), reversed(preset.resolve(cnn).rules), strict=True):
        Rm = rule.propagate(layer, Rm)
    assert numpy.array_equal(got, Rm)
    assert numpy.isfinite(got).all()
