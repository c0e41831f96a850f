"""First-order optimisers acting on a model's ``params`` and ``grads``.

The optimiser owns its state (velocities, moments); layers only hold parameters and gradients, so
the same model can be trained with any optimiser and ``Module.update`` stays plain SGD.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import backend
from ._typing import Array
from .modules.base import Module


def _leaves(model: Module) -> list[Module]:
    children = getattr(model, "modules", None)
    if children is None:
        return [model]
    return [leaf for child in children for leaf in _leaves(child)]


def parameter_slots(model: Module) -> list[tuple[Module, str]]:
    """``(layer, name)`` for every parameter of the model, in layer order."""
    return [(layer, name) for layer in _leaves(model) for name in layer.param_names]


@dataclass
class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay.

    ``v <- momentum * v + g + weight_decay * p``; ``p <- p - lrate * v`` (or, Nesterov,
    ``p <- p - lrate * (g + weight_decay * p + momentum * v)``).
    """

    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    _velocity: dict[int, Array] = field(default_factory=dict, repr=False)

    def step(self, model: Module, lrate: float) -> None:
        """Apply one update to every parameter that has a gradient."""
        for slot, (layer, name) in enumerate(parameter_slots(model)):
            if name not in layer.grads:
                continue
            p = getattr(layer, name)
            g = layer.grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self._velocity.get(slot)
                v = g.copy() if v is None else self.momentum * v + g
                self._velocity[slot] = v
                g = g + self.momentum * v if self.nesterov else v
            p -= p.dtype.type(lrate) * g


@dataclass
class Adam:
    """Adam (Kingma & Ba 2015) with bias correction and optional decoupled weight decay (AdamW).

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g**2``;
    ``p <- p - lrate * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps) - lrate * weight_decay * p``.
    """

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    _t: int = field(default=0, repr=False)
    _moments: dict[int, tuple[Array, Array]] = field(default_factory=dict, repr=False)

    def step(self, model: Module, lrate: float) -> None:
        """Apply one update to every parameter that has a gradient."""
        self._t += 1
        c1 = 1.0 - self.beta1**self._t
        c2 = 1.0 - self.beta2**self._t
        for slot, (layer, name) in enumerate(parameter_slots(model)):
            if name not in layer.grads:
                continue
            p = getattr(layer, name)
            g = layer.grads[name]
            xp = backend.get_namespace(p, g)
            if slot not in self._moments:
                self._moments[slot] = (xp.zeros_like(p), xp.zeros_like(p))
            m, v = self._moments[slot]
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * (g * g)
            self._moments[slot] = (m, v)
            step = (m / c1) / (xp.sqrt(v / c2) + self.eps)
            if self.weight_decay:
                step += self.weight_decay * p
            p -= p.dtype.type(lrate) * step


def make_optimizer(spec: str | Any, momentum: float = 0.9) -> Any:
    """Return an optimiser from a name (``'adam'``, ``'sgd'``, ``'momentum'``, ``'nesterov'``) or object."""
    if not isinstance(spec, str):
        if not callable(getattr(spec, "step", None)):
            raise TypeError(f"optimizer must be a name or have a step(model, lrate) method, got {spec!r}")
        return spec
    key = spec.lower()
    if key == "adam":
        return Adam()
    if key == "sgd":
        return SGD()
    if key == "momentum":
        return SGD(momentum=momentum)
    if key == "nesterov":
        return SGD(momentum=momentum, nesterov=True)
    raise ValueError(f"unknown optimizer {spec!r}; expected 'adam', 'sgd', 'momentum' or 'nesterov'")
