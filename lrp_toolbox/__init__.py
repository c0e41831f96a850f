"""lrp_toolbox: Layer-wise Relevance Propagation on NumPy and CuPy."""

__version__ = "2.0.0"
