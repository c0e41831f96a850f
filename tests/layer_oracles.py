"""Slow explicit oracles for the layers, and the random-direction gradient check.

The oracles loop over output positions in plain Python and index the input element by element
(``x[n, p*s0 + a*d0, q*s1 + b*d1, c]``), so they share no code path with the vectorised layers
(no ``sliding_window_view``, no ``tensordot``, no ``pad``). They are float64-only and meant for
small shapes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy

EPS = 1e-6
"""Step of the central difference in the random-direction check (architecture.md §8)."""

RTOL_GRAD = 1e-6
"""Relative tolerance of the random-direction check, float64."""

RTOL_FORWARD = 1e-12
"""Relative tolerance of forward passes against the oracles, float64."""


def assert_close_to_oracle(
    actual: numpy.ndarray, expected: numpy.ndarray, rtol: float = RTOL_FORWARD
) -> None:
    """``rtol`` with an absolute floor ``1e-13 * max|expected|`` (for entries that cancel to ~0)."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(numpy.max(numpy.abs(expected))) if expected.size else 0.0
    numpy.testing.assert_allclose(actual, expected, rtol=rtol, atol=1e-13 * scale)


# ---------------------------------------------------------------------------------------- layers
def linear(X: numpy.ndarray, W: numpy.ndarray, B: numpy.ndarray) -> numpy.ndarray:
    """``Y[n, j] = sum_i X[n, i] W[i, j] + B[j]`` by explicit loops (exactly rounded sums)."""
    N, m = X.shape
    n = W.shape[1]
    Y = numpy.empty((N, n))
    for s in range(N):
        for j in range(n):
            Y[s, j] = math.fsum([float(X[s, i]) * float(W[i, j]) for i in range(m)] + [float(B[j])])
    return Y


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _padding(value: object) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return ((value, value), (value, value))
    first, second = value  # type: ignore[misc]
    if isinstance(first, int):
        return ((first, first), (second, second))
    return (tuple(first), tuple(second))  # type: ignore[return-value]


def _padded_value(X: numpy.ndarray, s: int, i: int, j: int, c: int, pad_top: int, pad_left: int) -> float:
    """``Xpad[s, i, j, c]`` for zero padding, read straight from ``X``."""
    H, W = X.shape[1], X.shape[2]
    r, q = i - pad_top, j - pad_left
    if 0 <= r < H and 0 <= q < W:
        return float(X[s, r, q, c])
    return 0.0


def conv_output_size(size: int, window: int, stride: int, dilation: int, pad: tuple[int, int]) -> int:
    """Number of window starts ``p`` with ``p*stride + (window-1)*dilation`` inside the padded axis."""
    padded = size + pad[0] + pad[1]
    count = 0
    while count * stride + (window - 1) * dilation < padded:
        count += 1
    return count


def convolution(
    X: numpy.ndarray,
    W: numpy.ndarray,
    B: numpy.ndarray,
    stride: int | tuple[int, int] = 1,
    padding: object = 0,
    dilation: int | tuple[int, int] = 1,
) -> numpy.ndarray:
    """Zero-padded, strided, dilated cross-correlation, one output element at a time.

    ``Y[n,p,q,f] = sum_{a,b,c} Xpad[n, p*s0 + a*d0, q*s1 + b*d1, c] W[a,b,c,f] + B[f]``.
    """
    s0, s1 = _pair(stride)
    d0, d1 = _pair(dilation)
    (top, bottom), (left, right) = _padding(padding)
    N, H, Wd, C = X.shape
    h, w, d, nf = W.shape
    assert d == C
    Ho = conv_output_size(H, h, s0, d0, (top, bottom))
    Wo = conv_output_size(Wd, w, s1, d1, (left, right))
    Y = numpy.empty((N, Ho, Wo, nf))
    for s in range(N):
        for p in range(Ho):
            for q in range(Wo):
                for f in range(nf):
                    terms = [float(B[f])]
                    for a in range(h):
                        for b in range(w):
                            for c in range(C):
                                x = _padded_value(X, s, p * s0 + a * d0, q * s1 + b * d1, c, top, left)
                                terms.append(x * float(W[a, b, c, f]))
                    Y[s, p, q, f] = math.fsum(terms)
    return Y


def _pool(
    X: numpy.ndarray, pool: tuple[int, int], stride: tuple[int, int], reduce: Callable
) -> numpy.ndarray:
    hp, wp = _pair(pool)
    s0, s1 = _pair(stride)
    N, H, W, C = X.shape
    Ho = conv_output_size(H, hp, s0, 1, (0, 0))
    Wo = conv_output_size(W, wp, s1, 1, (0, 0))
    Y = numpy.empty((N, Ho, Wo, C))
    for s in range(N):
        for p in range(Ho):
            for q in range(Wo):
                for c in range(C):
                    window = [float(X[s, p * s0 + a, q * s1 + b, c]) for a in range(hp) for b in range(wp)]
                    Y[s, p, q, c] = reduce(window)
    return Y


def sum_pool(X: numpy.ndarray, pool=(2, 2), stride=(2, 2)) -> numpy.ndarray:
    """The original toolbox's sum pool: window sum divided by ``sqrt(hp * wp)``."""
    hp, wp = _pair(pool)
    return _pool(X, pool, stride, lambda window: math.fsum(window) / math.sqrt(hp * wp))


def avg_pool(X: numpy.ndarray, pool=(2, 2), stride=(2, 2)) -> numpy.ndarray:
    """Window mean."""
    return _pool(X, pool, stride, lambda window: math.fsum(window) / len(window))


def max_pool(X: numpy.ndarray, pool=(2, 2), stride=(2, 2)) -> numpy.ndarray:
    """Window maximum per channel."""
    return _pool(X, pool, stride, max)


def pool_transpose(
    S: numpy.ndarray, input_shape: tuple[int, ...], pool=(2, 2), stride=(2, 2)
) -> numpy.ndarray:
    """Transpose of the raw window sum: ``out[n, i, j, c] = sum of S[n, p, q, c]`` over the windows
    ``(p, q)`` that contain input position ``(i, j)`` (0 for positions in no window).

    ``input_shape`` is ``(H, W, C)``; the sums are exactly rounded (``math.fsum``).
    """
    hp, wp = _pair(pool)
    s0, s1 = _pair(stride)
    N, Ho, Wo, C = S.shape
    H, W = input_shape[:2]
    out = numpy.zeros((N, H, W, C))
    for s in range(N):
        for i in range(H):
            for j in range(W):
                for c in range(C):
                    terms = [
                        float(S[s, p, q, c])
                        for p in range(Ho)
                        for q in range(Wo)
                        if 0 <= i - p * s0 < hp and 0 <= j - q * s1 < wp
                    ]
                    out[s, i, j, c] = math.fsum(terms)
    return out


def max_pool_backward(X: numpy.ndarray, DY: numpy.ndarray, pool=(2, 2), stride=(2, 2)) -> numpy.ndarray:
    """Route each ``DY`` to its window's maxima, split evenly among ties."""
    hp, wp = _pair(pool)
    s0, s1 = _pair(stride)
    DX = numpy.zeros(X.shape)
    N, Ho, Wo, C = DY.shape
    for s in range(N):
        for p in range(Ho):
            for q in range(Wo):
                for c in range(C):
                    cells = [(p * s0 + a, q * s1 + b) for a in range(hp) for b in range(wp)]
                    top = max(X[s, i, j, c] for i, j in cells)
                    winners = [(i, j) for i, j in cells if X[s, i, j, c] == top]
                    for i, j in winners:
                        DX[s, i, j, c] += DY[s, p, q, c] / len(winners)
    return DX


def rect(X: numpy.ndarray) -> numpy.ndarray:
    return numpy.array([max(0.0, float(v)) for v in X.ravel()]).reshape(X.shape)


def tanh(X: numpy.ndarray) -> numpy.ndarray:
    return numpy.array([math.tanh(float(v)) for v in X.ravel()]).reshape(X.shape)


def softmax(X: numpy.ndarray) -> numpy.ndarray:
    """Row-wise softmax over the last axis with Python floats (shifted by the row maximum)."""
    rows = X.reshape(-1, X.shape[-1])
    out = numpy.empty(rows.shape)
    for r, row in enumerate(rows):
        top = max(float(v) for v in row)
        e = [math.exp(float(v) - top) for v in row]
        total = math.fsum(e)
        out[r] = [v / total for v in e]
    return out.reshape(X.shape)


# ------------------------------------------------------------------------- gradient check
def directional_check(
    f: Callable[[numpy.ndarray], numpy.ndarray],
    vjp: Callable[[numpy.ndarray], numpy.ndarray],
    x: numpy.ndarray,
    rng: numpy.random.Generator,
    eps: float = EPS,
    rtol: float = RTOL_GRAD,
) -> tuple[float, float]:
    """Random-direction gradient check (architecture.md §8).

    Draws ``v`` in input space and ``u`` in output space and asserts
    ``vdot(vjp(u), v) == vdot(u, (f(x + eps v/2) - f(x - eps v/2)) / eps)`` within ``rtol``.
    ``vjp(u)`` must evaluate the vector-Jacobian product at ``x``. Returns both sides.
    """
    y = f(x)
    u = rng.standard_normal(y.shape)
    v = rng.standard_normal(x.shape)
    analytic = float(numpy.vdot(vjp(u), v))
    numeric = float(numpy.vdot(u, (f(x + eps * v / 2) - f(x - eps * v / 2)) / eps))
    numpy.testing.assert_allclose(analytic, numeric, rtol=rtol)
    return analytic, numeric


def check_input_gradient(layer, X: numpy.ndarray, rng: numpy.random.Generator) -> None:
    """Random-direction check of ``layer.backward`` with respect to the input."""

    def vjp(u: numpy.ndarray) -> numpy.ndarray:
        layer.forward(X)
        return layer.backward(u)

    directional_check(layer.forward, vjp, X, rng)


def check_parameter_gradient(owner, name: str, model, X: numpy.ndarray, rng: numpy.random.Generator) -> None:
    """Random-direction check of ``owner.grads[name]`` (``owner`` is ``model`` or one of its layers)."""
    original = getattr(owner, name)

    def f(p: numpy.ndarray) -> numpy.ndarray:
        setattr(owner, name, p)
        try:
            return model.forward(X)
        finally:
            setattr(owner, name, original)

    def vjp(u: numpy.ndarray) -> numpy.ndarray:
        model.forward(X)
        model.backward(u)
        return owner.grads[name]

    directional_check(f, vjp, original.copy(), rng)
