"""Exception types raised by the toolbox.

Every error is a subclass of a built-in type (``ValueError`` or ``RuntimeError``), so callers that
catch the built-ins keep working, while tests and tools can catch the precise type.
"""

from __future__ import annotations


class ShapeError(ValueError):
    """An array has the wrong rank or shape for the layer it is fed to."""


class NotForwardedError(RuntimeError):
    """``backward`` or ``lrp`` was called on a layer before any ``forward``."""


class BackendError(RuntimeError):
    """The requested array backend (e.g. CuPy) is unknown or not usable on this machine."""


class RuleError(ValueError):
    """An LRP rule is ill-defined or does not fit the layer it is assigned to."""


class ModelFormatError(ValueError):
    """A model or data file is malformed; the message names the file and the line or key."""
