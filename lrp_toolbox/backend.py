"""Explicit NumPy/CuPy array backend.

The namespace of every operation follows its arrays (the CuPy ``get_array_module`` idiom): nothing
is chosen at import time, there is no module-level mutable state, and installing CuPy changes
nothing until a model or array is moved with :func:`to_backend` or ``Module.to('cupy')``.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

import numpy

from ._typing import Array
from .errors import BackendError

BACKENDS = ("numpy", "cupy")


def _is_cupy_array(a: object) -> bool:
    """Whether ``a`` is a CuPy array, decided without importing CuPy."""
    return type(a).__module__.split(".")[0] == "cupy"


def namespace(name: str) -> ModuleType:
    """Return the array module for a backend name.

    Parameters
    ----------
    name : {'numpy', 'cupy'}
        Backend name (case-insensitive).

    Raises
    ------
    BackendError
        For an unknown name, or for ``'cupy'`` when CuPy is not installed or no CUDA device works.
    """
    key = str(name).lower()
    if key == "numpy":
        return numpy
    if key != "cupy":
        raise BackendError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    if importlib.util.find_spec("cupy") is None:
        raise BackendError(
            "backend 'cupy' requested but CuPy is not installed; "
            "install it with `pip install lrp_toolbox[cuda12]` (or [cuda13])"
        )
    try:
        cupy = importlib.import_module("cupy")
        cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver or device missing: report the cause plainly
        raise BackendError(f"backend 'cupy' is installed but not usable: {exc}") from exc
    return cupy


def get_namespace(*arrays: object) -> ModuleType:
    """Return the array module (``numpy`` or ``cupy``) that the given arrays live on.

    Non-array arguments (``None``, Python scalars) are ignored.

    Raises
    ------
    TypeError
        When NumPy and CuPy arrays are mixed.
    """
    on_gpu = [_is_cupy_array(a) for a in arrays if a is not None and hasattr(a, "shape")]
    if any(on_gpu):
        if not all(on_gpu):
            raise TypeError(
                "mixed NumPy and CuPy arrays; move the model with model.to('cupy') or the data "
                "with lrp_toolbox.backend.to_backend(x, 'cupy') (or both to 'numpy')"
            )
        return importlib.import_module("cupy")
    return numpy


def backend_name(a: Array) -> str:
    """Return ``'cupy'`` or ``'numpy'`` for an array."""
    return "cupy" if _is_cupy_array(a) else "numpy"


def to_numpy(a: Array) -> numpy.ndarray:
    """Return ``a`` as a NumPy array (a no-op for NumPy input)."""
    if _is_cupy_array(a):
        return a.get()
    return numpy.asarray(a)


def to_backend(a: Array, name: str) -> Array:
    """Move an array to the named backend; a no-op when it is already there."""
    xp = namespace(name)
    if xp is numpy:
        return to_numpy(a)
    return a if _is_cupy_array(a) else xp.asarray(a)
