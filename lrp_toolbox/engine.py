"""The LRP engine: resolve rules per layer, validate, then propagate relevance backwards.

``lrp_var`` (the original toolbox's argument name) may be:

- ``None`` together with ``param=None``: every layer uses its preset from ``set_lrp_parameters``
  (a layer without preset uses the original's default ``'simple'``);
- a legacy string such as ``'epsilon'`` with its ``param`` (see ``lrp_toolbox.rules.legacy``);
- a ``Rule``: applied to every layer it fits; MaxPool falls to ``WinnerTakeAll()`` and
  activations/Flatten to ``Pass()`` unless the rule fits them (``Flat`` fits MaxPool);
- a ``Composite``: per-layer assignment (``lrp_toolbox.composites``).

``lrp(R, None, param)`` with a parameter raises ``RuleError`` (the original silently ran simple LRP).
All rule resolution and validation happens before any arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import backend
from ._typing import Array
from .composites import Composite, Everywhere, _layers
from .errors import RuleError, ShapeError
from .ledger import Book, Ledger
from .modules import Module, Sequential
from .rules import Rule, from_legacy


def _spec(lrp_var: Any, param: Any) -> Composite:
    """Turn ``(lrp_var, param)`` (not both None) into a composite."""
    if isinstance(lrp_var, (Rule, Composite)):
        if param is not None:
            raise RuleError(
                f"param={param!r} is only meaningful with a legacy rule name; put it into the rule "
                f"object instead (got {lrp_var!r})"
            )
        spec: Any = lrp_var
    elif lrp_var is None or isinstance(lrp_var, str):
        spec = from_legacy(lrp_var, param)
    else:
        raise RuleError(
            f"lrp_var must be None, a rule name, a Rule or a Composite, got {type(lrp_var).__name__}"
        )
    return spec if isinstance(spec, Composite) else Composite(Everywhere(spec))


def resolve_rules(
    model: Sequential | Sequence[Module], lrp_var: Any = None, param: Any = None
) -> tuple[Rule, ...]:
    """The rule used on every layer (validated; no arithmetic).

    Raises
    ------
    RuleError
        Unknown names, missing parameters, rules that do not fit their layer (message names index
        and layer), or ``lrp_var=None`` with a parameter.
    """
    layers = _layers(model)
    if lrp_var is not None or param is not None:
        return _spec(lrp_var, param).resolve(layers).rules
    rules = []
    for i, layer in enumerate(layers):
        try:
            rules.append(_spec(layer.lrp_var, layer.lrp_param).resolve([layer]).rules[0])
        except RuleError as exc:
            raise RuleError(f"layer {i} ({layer!r}) preset: {exc}") from None
    return tuple(rules)


def _check_relevance(R: Any, y: Array, where: str) -> None:
    if not hasattr(R, "shape") or not hasattr(R, "dtype"):
        raise TypeError(f"{where}: R must be an ndarray, got {type(R).__name__}")
    if tuple(R.shape) != tuple(y.shape):
        raise ShapeError(f"{where}: R must have the output shape {tuple(y.shape)}, got {tuple(R.shape)}")
    if R.dtype != y.dtype:
        raise TypeError(
            f"{where}: R has dtype {R.dtype} but the layer output {y.dtype}; use R.astype({y.dtype})"
        )
    backend.get_namespace(R, y)
    if not _finite(R):
        raise ValueError(f"{where}: the relevance R contains NaN or Inf")


def _check_input(x: Array, where: str) -> None:
    if not _finite(x):
        raise ValueError(f"{where}: the forward input contains NaN or Inf; LRP is undefined")


def _finite(a: Array) -> bool:
    return bool(backend.get_namespace(a).isfinite(a).all())


def _first_overflow(layers: Sequence[Module], offset: int) -> str:
    """Where the forward pass left the finite range: the first layer whose output is not finite."""
    for i, layer in enumerate(layers):
        if not _finite(layer.cache.y):
            return (
                f"layer {offset + i} ({layer!r}) overflowed in the forward pass (its output holds NaN or Inf)"
            )
    return "the forward pass stayed finite, so a rule overflowed (relevances beyond the dtype's range)"


def _check_forward_output(layers: Sequence[Module], offset: int) -> None:
    """The model output must be finite (an overflow anywhere on a path to it shows up there)."""
    if not _finite(layers[-1].cache.y):
        raise FloatingPointError(f"LRP is undefined: {_first_overflow(layers, offset)}")


def propagate(
    layers: Sequence[Module],
    rules: Sequence[Rule],
    R: Array,
    keep: bool = False,
    ledger: Ledger | None = None,
    offset: int = 0,
) -> list[Array]:
    """Run resolved ``rules`` backwards through forwarded ``layers``.

    Returns ``[R_0, ..., R_L]`` (relevance at every layer's input, then ``R``) when ``keep``,
    else ``[R_0]``. ``offset`` shifts the layer indices in the ledger.
    """
    if len(layers) != len(rules):
        raise RuleError(f"{len(rules)} rules for {len(layers)} layers")
    if not layers:
        return [R]
    # causes first: a bad input, then an overflow in the forward pass (R may have been built from
    # the overflowed output, as explain's init='logit' does), then R itself
    _check_input(layers[0].cache.x, f"layer {offset} ({layers[0]!r})")
    _check_forward_output(layers, offset)
    _check_relevance(R, layers[-1].cache.y, f"layer {offset + len(layers) - 1} ({layers[-1]!r})")
    for i, (layer, rule) in enumerate(zip(layers, rules, strict=True)):
        try:
            rule.check_layer(layer)
        except RuleError as exc:
            raise RuleError(f"layer {offset + i} ({layer!r}): {exc}") from None
    out = [R]
    for i in range(len(layers) - 1, -1, -1):
        layer, rule = layers[i], rules[i]
        book = Book() if ledger is not None else None
        with layer.cache.call_scope():
            R_in = rule.propagate(layer, R, book)
        if ledger is not None:
            ledger.record(offset + i, layer, rule, R, R_in, book)  # type: ignore[arg-type]
        R = R_in
        if keep:
            out.append(R)
        else:
            out[0] = R
    if not _finite(R):
        where = _first_overflow(layers, offset)
        raise FloatingPointError(f"the relevance at the input of layer {offset} contains NaN or Inf: {where}")
    if keep:
        out.reverse()
    return out


def module_lrp(
    layer: Module, R: Array, lrp_var: Any = None, param: Any = None, *, ledger: Ledger | None = None
) -> Array:
    """Relevance at ``layer``'s input (``Module.lrp``); see the module docstring for ``lrp_var``."""
    if isinstance(layer, Sequential):
        return sequential_lrp(layer, R, lrp_var, param, ledger=ledger)
    rules = resolve_rules([layer], lrp_var, param)
    return propagate([layer], rules, R, ledger=ledger)[0]


def sequential_lrp(
    model: Sequential, R: Array, lrp_var: Any = None, param: Any = None, *, ledger: Ledger | None = None
) -> Array:
    """Input relevance of ``model`` for output relevance ``R`` (``Sequential.lrp``).

    Parameters
    ----------
    model : Sequential
        Forwarded model; ``lrp`` explains the batch of the last ``forward``.
    R : ndarray of shape (N, *output_shape)
        Finite initial relevance, dtype of the model output.
    lrp_var, param
        See the module docstring.
    ledger : Ledger, optional
        Filled with every layer's conservation budget.

    Returns
    -------
    ndarray of shape (N, *input_shape)
    """
    layers = _layers(model)
    rules = resolve_rules(layers, lrp_var, param)
    return propagate(layers, rules, R, ledger=ledger)[0]


def layerwise_lrp(
    model: Sequential, R: Array, lrp_var: Any = None, param: Any = None, *, ledger: Ledger | None = None
) -> list[Array]:
    """Relevance at every layer's input: element 0 is input space, element ``len(model)`` is ``R``."""
    layers = _layers(model)
    rules = resolve_rules(layers, lrp_var, param)
    return propagate(layers, rules, R, keep=True, ledger=ledger)


def lrp_with_ledger(
    model: Sequential | Module, R: Array, lrp_var: Any = None, param: Any = None
) -> tuple[Array, Ledger]:
    """``(input relevance, Ledger)`` in one call; see ``lrp_toolbox.ledger.check_conservation``."""
    ledger = Ledger()
    if isinstance(model, Sequential):
        return sequential_lrp(model, R, lrp_var, param, ledger=ledger), ledger
    return module_lrp(model, R, lrp_var, param, ledger=ledger), ledger
