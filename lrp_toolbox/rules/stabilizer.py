"""The one stabiliser of the toolbox and the one 0/0 policy.

Every rule that divides by a denominator ``d_j`` computes ``s_j = R_j / stabilize(d_j, eps, form)``
through :func:`stabilize` and :func:`ratio`; nothing else in the toolbox adds an epsilon.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, NamedTuple

import numpy

from .. import backend
from .._typing import Array
from ..errors import RuleError

StabilizerForm = Literal["signed", "unsigned", "zero_only"]
STABILIZER_FORMS: tuple[str, ...] = ("signed", "unsigned", "zero_only")


def real_number(value: Any, what: str) -> float:
    """``float(value)`` for a finite real number: a Python or NumPy int or float, not a bool.

    Raises
    ------
    RuleError
        Naming ``what``, for anything else (strings, bools, arrays, NaN, infinities).
    """
    if isinstance(value, (bool, numpy.bool_)) or not isinstance(value, numbers.Real):
        raise RuleError(f"{what} must be a finite number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise RuleError(f"{what} must be a finite number, got {value!r}")
    return result


def check_stabilizer(value: float, form: str, what: str = "stabilizer") -> float:
    """Validate a stabiliser size and form; return the size as a float.

    Raises
    ------
    RuleError
        If ``value`` is not a finite number (``real_number``) or is negative, or ``form`` is unknown.
    """
    eps = real_number(value, what)
    if eps < 0.0:
        raise RuleError(f"{what} must be a finite non-negative float, got {value!r}")
    if form not in STABILIZER_FORMS:
        raise RuleError(f"stabilizer_form must be one of {STABILIZER_FORMS}, got {form!r}")
    return eps


def sign(z: Array) -> Array:
    """Sign with ``sign(0) = +1``: ``s(t) = +1 if t >= 0 else -1`` (same dtype as ``z``)."""
    xp = backend.get_namespace(z)
    return xp.where(z >= 0, z.dtype.type(1), z.dtype.type(-1))


def stabilize(
    z: Array,
    epsilon: float,
    form: str = "signed",
    sign: int | None = None,
    zero: Array | None = None,
    out: Array | None = None,
) -> Array:
    """Stabilised denominator.

    Parameters
    ----------
    z : ndarray
        Raw denominators ``d_j``.
    epsilon : float
        Stabiliser size (absolute, >= 0).
    form : {'signed', 'unsigned', 'zero_only'}
        - ``'signed'`` (default, zennit/Captum/RP.jl/original): ``z + eps * s(z)`` with ``s(0) = +1``,
          so ``|result| >= eps`` and the sign of ``z`` is kept;
        - ``'unsigned'`` (LRP tutorial): ``z + eps``;
        - ``'zero_only'`` (iNNvestigate ``safe_divide``): ``z + eps * [z == 0]``.
    sign : {None, +1, -1}
        Optional promise that every ``z_j >= 0`` (+1) or every ``z_j <= 0`` (-1); it only skips
        work, the result is the same.
    zero : bool ndarray, optional
        ``z == 0`` when the caller has it already (used with ``sign=-1``).
    out : ndarray, optional
        Where the result may be written (``z`` itself when the caller no longer needs it); the
        ``'zero_only'`` form ignores it.

    Returns
    -------
    ndarray
        An array of the shape and dtype of ``z`` (``z`` itself when ``epsilon`` is 0).
    """
    if epsilon == 0.0:
        return z
    xp = backend.get_namespace(z)
    eps = z.dtype.type(epsilon)
    if form == "unsigned" or (form == "signed" and sign == 1):
        return xp.add(z, eps, out=out)
    if form == "signed" and sign == -1:
        zero = z == 0 if zero is None else zero  # s(0) = +1
        den = xp.subtract(z, eps, out=out)
        if bool(zero.any()):
            den[zero] = eps
        return den
    if form == "signed":  # z + 0.0 turns -0.0 into +0.0, so that s(-0.0) = +1 as well
        shift = xp.add(z, z.dtype.type(0), out=xp.empty_like(z))  # an array even when z is 0-d
        xp.copysign(eps, shift, out=shift)  # in place: one temporary, not two
        if out is None:
            shift += z
            return shift
        return xp.add(z, shift, out=out)
    if form == "zero_only":
        return z + (z == 0) * eps
    raise RuleError(f"stabilizer_form must be one of {STABILIZER_FORMS}, got {form!r}")


def denominator_nonzero(epsilon: float, form: str, sign: int | None = None, dtype: Any = None) -> bool:
    """Whether ``stabilize(z, epsilon, form, sign)`` is never 0 (then ``zero_mask`` skips the test).

    True for ``'signed'`` with ``epsilon > 0`` (``|result| >= epsilon``) and for ``'unsigned'``
    with ``epsilon > 0`` and ``z >= 0`` (``sign == +1``). ``epsilon`` counts as it is in ``dtype``
    (the dtype of ``z``): a stabiliser that rounds to 0 there (``1e-50`` in float32) is 0.
    """
    if dtype is not None:
        epsilon = float(numpy.dtype(dtype).type(epsilon))
    if epsilon <= 0.0:
        return False
    return form == "signed" or (form == "unsigned" and sign == 1)


class Dropped(NamedTuple):
    """Outputs that pass no relevance (``mask``) and the denominators with 1 there (``safe``)."""

    mask: Array
    safe: Array


def zero_mask(den: Array, drop: Array | None = None, den_nonzero: bool = False) -> Dropped | None:
    """Outputs that pass no relevance: ``den == 0`` or flagged in ``drop``; ``None`` when there are none.

    ``den_nonzero`` (see ``denominator_nonzero``) skips the test ``den == 0``. The result depends on
    the forward pass only (not on the relevance), so rules memoise it.
    """
    if den_nonzero:
        if drop is None:
            return None
        zero = drop
    else:
        zero = den == 0 if drop is None else (den == 0) | drop
    if not bool(zero.any()):
        return None
    xp = backend.get_namespace(den)
    return Dropped(zero, xp.where(zero, den.dtype.type(1), den))


def keep_for_ratios(den: Array, dropped: Dropped | None) -> tuple[Array, Dropped | None]:
    """``(den, dropped)`` to keep for later ``ratio`` calls in the memory of one array.

    Where outputs are dropped, ``den`` (a temporary the caller owns, never a layer's output) gets
    the 1s of ``dropped.safe`` and replaces it, so a memo holds one float array instead of two.
    ``ratio`` reads ``safe`` only where ``dropped`` is given, so it gives the same bits.
    """
    if dropped is None:
        return den, None
    den[dropped.mask] = den.dtype.type(1)
    return den, Dropped(dropped.mask, den)


def stabilize_and_mask(
    raw: Array, epsilon: float, form: str, out: Array | None = None, drop: Array | None = None
) -> tuple[Array, Dropped | None]:
    """``stabilize(raw, epsilon, form, out=out)`` and its ``zero_mask(den, drop)``, whose test
    ``den == 0`` is skipped where the stabiliser rules it out (``denominator_nonzero``)."""
    den = stabilize(raw, epsilon, form, out=out)
    return den, zero_mask(den, drop, den_nonzero=denominator_nonzero(epsilon, form, dtype=den.dtype))


def ratio(
    R: Array, den: Array, dropped: Dropped | None, out: Array | None = None
) -> tuple[Array, Array | None]:
    """``s = R / den`` with the toolbox's 0/0 policy.

    Outputs whose stabilised denominator is exactly 0 (possible only with a zero stabiliser or the
    unsigned form), and outputs the rule flags (e.g. an empty α-β part, see ``zero_mask``), pass no
    relevance: ``s_j = 0``. No NaN or Inf is produced and no floating-point warning is raised.

    Parameters
    ----------
    R : ndarray of shape (N, *out)
        Upper relevance.
    den : ndarray broadcastable to ``R``
        Stabilised denominators.
    dropped : Dropped or None
        ``zero_mask(den, drop)`` (``None``: no output is dropped).
    out : ndarray of the shape of ``R``, optional
        Where ``s`` may be written when no output is dropped (``den`` itself when the caller no
        longer needs it).

    Returns
    -------
    s : ndarray of shape (N, *out)
    mask : bool ndarray of shape (N, *out) or None
        Where ``s`` was set to 0 (``None`` when nowhere), for the conservation ledger.
    """
    if dropped is None:
        return backend.get_namespace(R, den).divide(R, den, out=out), None
    xp = backend.get_namespace(R, den)
    return xp.where(dropped.mask, R.dtype.type(0), R / dropped.safe), xp.broadcast_to(dropped.mask, R.shape)
