"""Locations of data shared by the tests (one definition for every test module)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures" / "original_toolbox"
"""Reference outputs of the original toolbox (beside the checkout; tests skip when absent)."""
