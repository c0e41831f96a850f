"""The banded ``Convolution.lrp_pass`` and the rules that take it.

Without a ledger (after a plain or an lrp_aware forward), the sign-split rules (``ZPlus``,
``AlphaBeta``), the classic ``Gamma`` and ``ZBox`` run a convolution's modified forward,
denominators, ratios and transposed pass band by band; after an lrp_aware forward the bands'
denominators are memoised. The promise is bitwise equality with the unfused path (which a ledger
takes, and which ``test_rules.py`` checks against the matrix oracles), for every band partition;
these tests hold it to that and check which rules take which path.
"""

from __future__ import annotations

import numpy
import pytest

from lrp_toolbox.engine import lrp_with_ledger
from lrp_toolbox.ledger import Book, check_conservation
from lrp_toolbox.modules import Convolution, Linear, SumPool, conv_columns
from lrp_toolbox.rules import AlphaBeta, Epsilon, Gamma, ZBox, ZPlus

FUSED = [
    ZPlus(),
    ZPlus(bias="none"),
    ZPlus(stabilizer=0.05, stabilizer_form="unsigned"),
    ZPlus(stabilizer=0.05, stabilizer_form="zero_only"),
    AlphaBeta(2.0, 1.0),
    AlphaBeta(1.0, 0.0),
    AlphaBeta(3.0, 2.0, bias="none", stabilizer=0.0),
    AlphaBeta(2.0, 1.0, stabilizer=0.05, stabilizer_form="unsigned"),
    AlphaBeta(2.0, 1.0, stabilizer=0.05, stabilizer_form="zero_only"),
    AlphaBeta(0.5, -0.5),  # the original's 'alphabeta', 0.5: a negative beta
    Gamma(0.25),
    Gamma(0.5, bias="raw"),
    Gamma(1.0, bias="none", stabilizer=0.0),
    Gamma(0.25, stabilizer=0.05, stabilizer_form="zero_only"),
    ZBox(-2.0, 2.0),
    ZBox(-3.0, 0.5, stabilizer=0.0),
    ZBox(0.0, 2.0, stabilizer=0.05, stabilizer_form="zero_only"),
]
"""Rules that take the banded pass on a convolution (without a ledger)."""

UNFUSED = [
    ZPlus(bias="full"),  # bias of either sign outside the pass
    AlphaBeta(3.0, 2.0, bias="full"),
    AlphaBeta(0.0, -1.0),  # negative part only: its transposed pass uses half the stacked weights
    ZPlus(split_inputs=False),
    Gamma(0.25, variant="generalized"),
    Epsilon(0.1),  # the stored output is its denominator: no modified forward to fuse
]
"""Rules that keep the unfused path everywhere."""

LAYERS = {
    "strided-padded-dilated": (
        lambda rng: Convolution((3, 2, 2, 3), (2, 1), ((1, 0), (2, 1)), (1, 2), rng=rng),
        (3, 9, 8, 2),
    ),
    "valid-stride1": (lambda rng: Convolution((2, 3, 3, 4), (1, 1), rng=rng), (2, 7, 6, 3)),
    "one-channel": (lambda rng: Convolution((3, 3, 1, 5), (1, 1), 1, rng=rng), (4, 6, 5, 1)),
}


def _forwarded(name, rng, signs, dtype=numpy.float64, zero_every=5):
    make, shape = LAYERS[name]
    layer = make(rng)
    layer.B = rng.standard_normal(layer.B.shape)
    x = rng.standard_normal(shape)
    if signs == "non-negative":  # e.g. after a ReLU: x- is statically absent
        x = numpy.abs(x)
    x.reshape(-1)[::zero_every] = 0.0  # exact zeros: empty parts and zero denominators
    layer.to(dtype=dtype)
    x = x.astype(dtype)
    y = layer.forward(x)
    R = rng.standard_normal(y.shape).astype(dtype)
    return layer, x, R


def _unfused(monkeypatch, layer, R, rule):
    with monkeypatch.context() as patch:
        patch.setattr(Convolution, "fuses_lrp_pass", lambda self, like: False)
        return rule.propagate(layer, R)


# 6000 bytes: these layers' columns take 1152-5184 bytes per output row (float64, K = h*w*d, or
# 2*h*w*d for the stacked [x+, x-]), so bands of 1 to 5 rows: neither one row nor the whole output.
# A window straddling two bands gets its transposed slice-adds in an order that depends on where
# the bands are cut, so the fused pass must cut them exactly where affine_sum / affine_t_many do.
@pytest.mark.parametrize("budget", [None, 1, 6000], ids=["default-bands", "one-row-bands", "few-row-bands"])
@pytest.mark.parametrize("signs", ["mixed", "non-negative"])
@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("rule", FUSED, ids=repr)
def test_fused_pass_is_bitwise_the_unfused_path(lrp_pass_calls, monkeypatch, rng, rule, name, signs, budget):
    if budget is not None:  # several bands: every band's GEMMs, ratios and slice-adds must line up
        monkeypatch.setattr(conv_columns, "CPU_CHUNK_BYTES", budget)
    layer, x, R = _forwarded(name, rng, signs)
    fused = rule.propagate(layer, R)
    assert lrp_pass_calls == [layer]
    unfused = _unfused(monkeypatch, layer, R, rule)
    assert len(lrp_pass_calls) == 1
    assert fused.shape == x.shape and fused.dtype == x.dtype
    assert fused.tobytes() == unfused.tobytes()  # bytes: -0.0 and +0.0 differ as well
    layer.forward(x, lrp_aware=True)  # memoised bands: the first call fills the memo, the second reads it
    for _ in range(2):
        assert rule.propagate(layer, R).tobytes() == fused.tobytes()
    assert len(lrp_pass_calls) == 3
    assert _unfused(monkeypatch, layer, R, rule).tobytes() == fused.tobytes()  # the unfused memo


@pytest.mark.parametrize("rule", [ZPlus(), AlphaBeta(2.0, 1.0), Gamma(0.25)], ids=repr)
def test_fused_pass_in_float32(monkeypatch, rng, rule):
    layer, _, R = _forwarded("strided-padded-dilated", rng, "mixed", dtype=numpy.float32)
    fused = rule.propagate(layer, R)
    assert fused.dtype == numpy.float32
    assert numpy.array_equal(fused, _unfused(monkeypatch, layer, R, rule))


@pytest.mark.parametrize("rule", UNFUSED, ids=repr)
def test_rules_outside_the_fused_pass_do_not_take_it(lrp_pass_calls, rng, rule):
    layer, _, R = _forwarded("strided-padded-dilated", rng, "mixed")
    rule.propagate(layer, R)
    assert lrp_pass_calls == []


@pytest.mark.parametrize("rule", [ZPlus(), AlphaBeta(2.0, 1.0), Gamma(0.25)], ids=repr)
def test_lrp_aware_memoises_the_bands_and_ledger_runs_take_the_unfused_path(
    lrp_pass_calls, monkeypatch, rng, rule
):
    layer, x, R = _forwarded("valid-stride1", rng, "mixed")
    layer.forward(x)
    book = Book()
    booked = rule.propagate(layer, R, book)
    assert lrp_pass_calls == []  # a ledger reads whole-layer denominators: the unfused path
    assert book.terms
    assert rule.propagate(layer, R).tobytes() == booked.tobytes()
    assert lrp_pass_calls == [layer]

    layer.forward(x, lrp_aware=True)
    prepared = []
    original = Convolution.lrp_bands

    def counting(self, *args, **kwargs):
        prepared.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Convolution, "lrp_bands", counting)
    R2 = rng.standard_normal(R.shape)  # another target: the same denominators, other ratios
    first, second = rule.propagate(layer, R), rule.propagate(layer, R2)
    assert prepared == [layer]  # the denominators' bands were computed once
    assert ("lrp", "bands", rule) in layer.cache.memo
    assert first.tobytes() == booked.tobytes()
    layer.forward(x)
    assert second.tobytes() == rule.propagate(layer, R2).tobytes()


def test_prepared_bands_must_match_the_pass(rng):
    layer, x, R = _forwarded("valid-stride1", rng, "non-negative")
    with pytest.raises(ValueError, match="prepared bands"):
        layer.lrp_pass([x], [layer.W], None, R, lambda v, r: r, prepared=[])


def test_other_layers_do_not_fuse(rng):
    x = rng.standard_normal((2, 4, 4, 3))
    assert not Linear(3, 2, rng=rng).fuses_lrp_pass(x)
    assert not SumPool((2, 2), (2, 2)).fuses_lrp_pass(x)
    conv = Convolution((2, 2, 3, 2), (1, 1), rng=rng)
    R = conv.forward(x)
    assert conv.fuses_lrp_pass(R)
    # a relevance of another dtype or batch than the input (only a direct propagate call can
    # pass one: the engine checks both) takes the unfused path, which promotes or raises
    assert not conv.fuses_lrp_pass(R.astype(numpy.float32))
    assert not conv.fuses_lrp_pass(R[:1])


def test_a_relevance_of_another_dtype_gets_what_the_unfused_path_gives(lrp_pass_calls, monkeypatch, rng):
    layer, _, R = _forwarded("valid-stride1", rng, "mixed", dtype=numpy.float32)
    R64 = R.astype(numpy.float64)
    for rule in (ZPlus(), AlphaBeta(2.0, 1.0), Gamma(0.25)):
        got = rule.propagate(layer, R64)
        want = _unfused(monkeypatch, layer, R64, rule)
        assert got.dtype == want.dtype
        assert got.tobytes() == want.tobytes()
    assert lrp_pass_calls == []


@pytest.mark.parametrize(
    "rule",
    [
        Gamma(1.0, bias="none", stabilizer=0.0),
        Gamma(0.0, bias="none", stabilizer=0.0, stabilizer_form="unsigned"),
        AlphaBeta(2.0, 1.0, bias="none", stabilizer=0.0),
    ],
    ids=repr,
)
def test_fused_pass_through_zero_denominators(lrp_pass_calls, monkeypatch, rng, rule):
    # The second sample is all zeros and there is no bias, so every z of that sample is exactly 0;
    # with a zero stabiliser its denominators are 0, zero_mask flags them and ratio() returns a
    # new array (not den): those outputs pass nothing (s = 0, no NaN or Inf). The first sample's
    # denominators are random and nonzero. Fused and unfused must agree bit for bit.
    layer = Convolution((3, 3, 2, 4), (1, 1), 1, rng=rng)
    x = rng.standard_normal((2, 5, 5, 2))
    x[1] = 0.0
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)
    fused = rule.propagate(layer, R)
    assert lrp_pass_calls == [layer]
    assert numpy.isfinite(fused).all()
    assert not fused[1].any()  # x = 0 there as well: 0 * anything finite
    assert fused.tobytes() == _unfused(monkeypatch, layer, R, rule).tobytes()


@pytest.mark.parametrize("budget", [None, 1], ids=["default-bands", "one-row-bands"])
@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_lrp_pass_is_its_documented_composition(monkeypatch, rng, blocks, budget):
    # sum_k xs[k] * affine_t(s, ws[k]) with s = between(affine_sum(xs, ws, b), R), element by element
    if budget is not None:
        monkeypatch.setattr(conv_columns, "CPU_CHUNK_BYTES", budget)
    layer = Convolution((3, 2, 2, 4), (2, 1), ((1, 1), (0, 2)), (1, 1), rng=rng)
    xs = [rng.standard_normal((2, 7, 6, 2)) for _ in range(blocks)]
    layer.forward(xs[0])
    ws = [rng.standard_normal((3, 2, 2, 6)) for _ in range(blocks)]  # 6 outputs: stacked parts
    b = rng.standard_normal(6)
    R = rng.standard_normal((2, *layer.output_shape((7, 6, 2))[:2], 6))

    def between(z, r):
        return z * r - 0.5

    def banded(z, r):
        assert z.shape[0] == 6 and r.shape == z.shape  # channels first, then the band's rows
        assert z.shape[3] == 2  # samples last
        return between(z, r)

    got = layer.lrp_pass(xs, ws, b, R, banded)
    s = between(layer.affine_sum(xs, ws, b), R)
    parts = layer.affine_t_many([s], ws)
    want = xs[0] * parts[0]
    for x, part in zip(xs[1:], parts[1:], strict=True):
        want = want + x * part
    assert got.shape == xs[0].shape
    assert got.tobytes() == want.tobytes()  # the same GEMMs and element-wise steps: the same bits


def test_lrp_pass_hand_case():
    # one 1x1 filter pair on a 1x2 image: z = [x w1 + b1, x w2 + b2] per pixel, s = z * r,
    # R_in = x * (w1 s1 + w2 s2)
    layer = Convolution((1, 1, 1, 1), (1, 1))
    x = numpy.array([[[[2.0], [-1.0]]]])  # (1, 1, 2, 1)
    layer.forward(x)
    w = numpy.array([3.0, -2.0]).reshape(1, 1, 1, 2)
    b = numpy.array([1.0, 0.5])
    R = numpy.array([[[[1.0, 2.0], [0.5, -1.0]]]])  # (1, 1, 2, 2)
    got = layer.lrp_pass([x], [w], b, R, lambda z, r: z * r)
    # pixel 0: z = [2*3 + 1, 2*(-2) + 0.5] = [7, -3.5]; s = [7*1, -3.5*2] = [7, -7];
    #          R_in = 2 * (3*7 + (-2)*(-7)) = 2 * 35 = 70
    # pixel 1: z = [-3 + 1, 2 + 0.5] = [-2, 2.5]; s = [-2*0.5, 2.5*(-1)] = [-1, -2.5];
    #          R_in = -1 * (3*(-1) + (-2)*(-2.5)) = -1 * 2 = -2
    assert got.tolist() == [[[[70.0], [-2.0]]]]


@pytest.mark.parametrize("rule", [ZPlus(), AlphaBeta(2.0, 1.0), Gamma(0.25)], ids=repr)
def test_fused_pass_on_an_empty_batch(lrp_pass_calls, rule):
    layer = Convolution((3, 3, 2, 4), (1, 1), 1)
    y = layer.forward(numpy.zeros((0, 5, 5, 2)))
    R_in = rule.propagate(layer, numpy.zeros(y.shape))
    assert lrp_pass_calls == [layer]
    assert R_in.shape == (0, 5, 5, 2)


def test_memoised_bands_keep_one_float_array_per_part(rng):
    # Inputs >= 0 that are 0 on whole windows and no bias: some z+ are exactly 0, so those outputs
    # are dropped (mask). The memo keeps per part the stabilised denominator with 1s written where
    # dropped, shared as the mask's `safe` array (keep_for_ratios), not a second float copy.
    layer = Convolution((2, 2, 1, 3), (1, 1), rng=rng)
    layer.B = numpy.zeros(3)
    x = numpy.abs(rng.standard_normal((2, 5, 5, 1)))
    x[:, :3, :3] = 0.0  # the windows inside this corner see only zeros
    layer.forward(x)
    R = rng.standard_normal((2, 4, 4, 3))
    plain = ZPlus(bias="none").propagate(layer, R)
    layer.forward(x, lrp_aware=True)
    memoised = ZPlus(bias="none").propagate(layer, R)
    assert memoised.tobytes() == plain.tobytes()
    [[(den, dropped)]] = layer.cache.memo[("lrp", "bands", ZPlus(bias="none"))]  # one band, one part
    assert dropped is not None and dropped.mask.any()
    assert dropped.safe is den
    assert (den[dropped.mask] == 1).all()


def test_keep_for_ratios_hand_case():
    from lrp_toolbox.rules.stabilizer import Dropped, keep_for_ratios, ratio

    den = numpy.array([2.0, 0.0, -4.0])
    mask = numpy.array([False, True, False])
    dropped = Dropped(mask, numpy.where(mask, 1.0, den))
    R = numpy.array([1.0, 5.0, 2.0])
    want = ratio(R, den, dropped)[0]  # [1/2, 0, 2/(-4)] = [0.5, 0, -0.5]
    kept, kept_dropped = keep_for_ratios(den, dropped)
    assert kept is den and kept_dropped.safe is den
    assert den.tolist() == [2.0, 1.0, -4.0]
    assert ratio(R, kept, kept_dropped)[0].tolist() == want.tolist() == [0.5, 0.0, -0.5]
    assert keep_for_ratios(den, None) == (den, None)


def test_zbox_with_per_channel_bounds_takes_the_banded_pass(lrp_pass_calls, monkeypatch, rng):
    layer, _, R = _forwarded("valid-stride1", rng, "mixed")  # 3 input channels
    rule = ZBox(numpy.array([-3.0, -2.0, -1.0]), numpy.array([1.0, 2.0, 3.0]))
    banded = rule.propagate(layer, R)
    assert lrp_pass_calls == [layer]
    assert banded.tobytes() == _unfused(monkeypatch, layer, R, rule).tobytes()


def test_zbox_with_a_ledger_takes_the_unfused_path_and_books_its_stabilizer(lrp_pass_calls, rng):
    # A ledger reads whole-layer denominators: ZBox must not take the banded pass when a Book is
    # given (the banded pass books nothing). The stabiliser is large (0.5), so a ledger missing
    # its 'stabilizer' term cannot pass conservation by rounding.
    layer = Convolution((2, 3, 3, 4), (1, 1), rng=rng)
    layer.B = rng.standard_normal(4)  # ignored by z^B
    x = rng.uniform(-1.0, 1.0, (2, 7, 6, 3))
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)
    rule = ZBox(-1.0, 1.0, stabilizer=0.5)
    book = Book()
    booked = rule.propagate(layer, R, book)
    assert lrp_pass_calls == []
    assert set(book.terms) == {"stabilizer"}
    assert numpy.abs(book.terms["stabilizer"]).min() > 1e-3
    assert rule.propagate(layer, R).tobytes() == booked.tobytes()  # banded: the same bits
    assert lrp_pass_calls == [layer]
    R_in, ledger = lrp_with_ledger(layer, R, rule)
    assert R_in.tobytes() == booked.tobytes()
    assert check_conservation(ledger, rtol=1e-12, allow=("stabilizer",)) == []
    assert check_conservation(ledger, rtol=1e-6, raise_error=False) != []  # the term is needed


@pytest.mark.parametrize("budget", [None, 1], ids=["default-bands", "one-row-bands"])
def test_zbox_banded_pass_through_exact_zero_denominators(lrp_pass_calls, monkeypatch, rng, budget):
    # Filter 0 is >= 0 and sample 1 lies exactly on the lower bound: d = A+(x - l) + A-(x - h) is
    # exactly 0 for filter 0 there (every x - l is 0), > 0 for the mixed filters (A-(l - h) > 0).
    # With a zero stabiliser those outputs pass nothing (no NaN/Inf, booked as 'created'), the
    # banded pass gives the unfused bits, and after an lrp_aware forward the memo keeps one float
    # array per band (keep_for_ratios through rules._banded.one_ratio_pass).
    if budget is not None:
        monkeypatch.setattr(conv_columns, "CPU_CHUNK_BYTES", budget)
    low, high = numpy.array([-0.5, -1.5]), numpy.array([1.0, 0.25])
    layer = Convolution((3, 3, 2, 3), (1, 1), 1, rng=rng)
    W = layer.W.copy()
    W[..., 0] = numpy.abs(W[..., 0])
    layer.W = W
    x = rng.uniform(low, high, (2, 5, 4, 2))
    x[1] = low
    y = layer.forward(x)
    R = rng.uniform(0.5, 1.5, y.shape)
    rule = ZBox(low, high, stabilizer=0.0)
    banded = rule.propagate(layer, R)
    assert lrp_pass_calls == [layer]
    assert numpy.isfinite(banded).all()
    assert banded.tobytes() == _unfused(monkeypatch, layer, R, rule).tobytes()
    R0 = R.copy()  # filter 0's relevance of sample 1 is dropped: removing it changes nothing
    R0[1, ..., 0] = 0.0
    numpy.testing.assert_array_equal(banded[1], rule.propagate(layer, R0)[1])

    layer.forward(x, lrp_aware=True)
    for _ in range(2):
        assert rule.propagate(layer, R).tobytes() == banded.tobytes()
    bands = layer.cache.memo[("lrp", "bands", rule)]
    assert any(dropped is not None for den, dropped in bands)
    for den, dropped in bands:
        if dropped is not None:
            assert dropped.safe is den and (den[dropped.mask] == 1).all()

    R_in, ledger = lrp_with_ledger(layer, R, rule)
    assert R_in.tobytes() == banded.tobytes()
    [entry] = ledger.layers
    numpy.testing.assert_allclose(entry.created, [0.0, -R[1, ..., 0].sum()], rtol=1e-15)
    assert check_conservation(ledger, rtol=1e-12, allow=("created",)) == []


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_zbox_rules_with_other_bounds_do_not_share_the_memo(kind, rng):
    # After one lrp_aware forward, ZBox rules differing only in their bounds each get their own
    # denominators (('bands', rule) banded, ('den', rule) on Linear / with a ledger): each result
    # is bitwise the one after a plain forward.
    if kind == "linear":
        layer, x = Linear(5, 3, rng=rng), rng.uniform(-1.0, 1.0, (4, 5))
    else:
        layer, x = Convolution((2, 2, 3, 4), (1, 1), rng=rng), rng.uniform(-1.0, 1.0, (2, 5, 4, 3))
    rules = [ZBox(-1.0, 1.0), ZBox(-2.0, 3.0), ZBox(numpy.full(x.shape[-1], -1.5), 1.0)]
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)
    plain, booked = [], []
    for rule in rules:
        layer.forward(x)
        plain.append(layer.lrp(R, rule).tobytes())
        booked.append(lrp_with_ledger(layer, R, rule)[0].tobytes())
    assert len(set(plain)) == len(rules)  # the bounds matter
    layer.forward(x, lrp_aware=True)
    for _ in range(2):
        for rule, want, want_booked in zip(rules, plain, booked, strict=True):
            assert layer.lrp(R, rule).tobytes() == want
            assert lrp_with_ledger(layer, R, rule)[0].tobytes() == want_booked
