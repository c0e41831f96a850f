"""Type aliases shared by the package.

``Array`` stands for a NumPy or CuPy ``ndarray``; the two libraries share no common static type.
"""

from __future__ import annotations

from typing import Any

Array = Any
"""A ``numpy.ndarray`` or ``cupy.ndarray``."""
