"""The one stabiliser of the toolbox and the one 0/0 policy.

Every rule that divides by a denominator ``d_j`` computes ``s_j = R_j / stabilize(d_j, eps, form)``
through :func:`stabilize` and :func:`ratio`; nothing else in the toolbox adds an epsilon.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from .. import backend
from .._typing import Array
from ..errors import RuleError

StabilizerForm = Literal["signed", "unsigned", "zero_only"]
STABILIZER_FORMS: tuple[str, ...] = ("signed", "unsigned", "zero_only")


def check_stabilizer(value: float, form: str, what: str = "stabilizer") -> float:
    """Validate a stabiliser size and form; return the size as a float.

    Raises
    ------
    RuleError
        If ``value`` is negative, NaN or infinite, or ``form`` is unknown.
    """
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise RuleError(f"{what} must be a non-negative float, got {value!r}") from None
    if not eps >= 0.0 or eps == float("inf"):
        raise RuleError(f"{what} must be a finite non-negative float, got {value!r}")
    if form not in STABILIZER_FORMS:
        raise RuleError(f"stabilizer_form must be one of {STABILIZER_FORMS}, got {form!r}")
    return eps


def sign(z: Array) -> Array:
    """Sign with ``sign(0) = +1``: ``s(t) = +1 if t >= 0 else -1`` (same dtype as ``z``)."""
    xp = backend.get_namespace(z)
    return xp.where(z >= 0, z.dtype.type(1), z.dtype.type(-1))


def stabilize(z: Array, epsilon: float, form: str = "signed") -> Array:
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

    Returns
    -------
    ndarray
        An array of the shape and dtype of ``z`` (``z`` itself when ``epsilon`` is 0).
    """
    if epsilon == 0.0:
        return z
    if form == "signed":
        xp = backend.get_namespace(z)
        return z + xp.where(z >= 0, z.dtype.type(epsilon), z.dtype.type(-epsilon))
    if form == "unsigned":
        return z + z.dtype.type(epsilon)
    if form == "zero_only":
        return z + (z == 0) * z.dtype.type(epsilon)
    raise RuleError(f"stabilizer_form must be one of {STABILIZER_FORMS}, got {form!r}")


class Dropped(NamedTuple):
    """Outputs that pass no relevance (``mask``) and the denominators with 1 there (``safe``)."""

    mask: Array
    safe: Array


def zero_mask(den: Array, drop: Array | None = None) -> Dropped | None:
    """Outputs that pass no relevance: ``den == 0`` or flagged in ``drop``; ``None`` when there are none.

    The result depends on the forward pass only (not on the relevance), so rules memoise it.
    """
    zero = den == 0
    if drop is not None:
        zero = zero | drop
    if not bool(zero.any()):
        return None
    xp = backend.get_namespace(den)
    return Dropped(zero, xp.where(zero, den.dtype.type(1), den))


def ratio(R: Array, den: Array, dropped: Dropped | None) -> tuple[Array, Array | None]:
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

    Returns
    -------
    s : ndarray of shape (N, *out)
    mask : bool ndarray of shape (N, *out) or None
        Where ``s`` was set to 0 (``None`` when nowhere), for the conservation ledger.
    """
    if dropped is None:
        return R / den, None
    xp = backend.get_namespace(R, den)
    return xp.where(dropped.mask, R.dtype.type(0), R / dropped.safe), xp.broadcast_to(dropped.mask, R.shape)
