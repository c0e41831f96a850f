"""The NumPy/CuPy backend: names, conversions, mixing rules, and no CuPy import at import time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy
import pytest

from lrp_toolbox import backend
from lrp_toolbox.errors import BackendError
from lrp_toolbox.modules import Linear, Rect, Sequential

CUPY_IMPORTABLE = importlib.util.find_spec("cupy") is not None


class FakeCupyArray:
    """Looks like a CuPy array to ``backend`` (which decides by the type's module, never importing CuPy)."""

    __module__ = "cupy._core.core"

    def __init__(self, data):
        self._data = numpy.asarray(data)
        self.shape = self._data.shape
        self.dtype = self._data.dtype
        self.ndim = self._data.ndim

    def get(self):
        return self._data.copy()


def test_namespace_numpy():
    assert backend.namespace("numpy") is numpy
    assert backend.namespace("NumPy") is numpy


@pytest.mark.parametrize("name", ["torch", "jax", "", "cuda", "np"])
def test_unknown_backend_name(name):
    with pytest.raises(BackendError) as info:
        backend.namespace(name)
    assert isinstance(info.value, RuntimeError)
    assert repr(name) in str(info.value)


@pytest.mark.skipif(CUPY_IMPORTABLE, reason="CuPy is installed here")
def test_cupy_missing_gives_install_hint():
    with pytest.raises(BackendError, match="pip install"):
        backend.namespace("cupy")
    with pytest.raises(BackendError, match="pip install"):
        backend.to_backend(numpy.zeros(2), "cupy")


@pytest.mark.skipif(CUPY_IMPORTABLE, reason="CuPy is installed here")
def test_model_to_cupy_without_cupy_leaves_model_intact():
    layer = Linear(3, 2)
    W = layer.W
    with pytest.raises(BackendError, match="pip install"):
        layer.to("cupy")
    assert layer.W is W
    with pytest.raises(BackendError, match="pip install"):
        layer.to_cupy()
    with pytest.raises(BackendError, match="pip install"):
        Sequential([Rect(), Linear(3, 2)]).to("cupy")
    with pytest.raises(BackendError):
        Rect().to("cupy")  # parameter-free layers validate the name too


def test_model_to_unknown_backend():
    with pytest.raises(BackendError):
        Linear(3, 2).to("torch")


def test_to_numpy_and_to_backend_on_numpy():
    a = numpy.arange(6.0).reshape(2, 3)
    assert backend.to_numpy(a) is a
    assert backend.to_backend(a, "numpy") is a
    converted = backend.to_numpy([[1.0, 2.0]])
    assert isinstance(converted, numpy.ndarray)
    numpy.testing.assert_array_equal(converted, [[1.0, 2.0]])
    assert backend.backend_name(a) == "numpy"
    assert Linear(3, 2).to_numpy().xp is numpy


def test_to_numpy_on_cupy_like_array_uses_get():
    fake = FakeCupyArray([1.0, 2.0])
    assert backend.backend_name(fake) == "cupy"
    out = backend.to_numpy(fake)
    assert isinstance(out, numpy.ndarray)
    numpy.testing.assert_array_equal(out, [1.0, 2.0])


def test_get_namespace_numpy_rules():
    a = numpy.zeros(2)
    assert backend.get_namespace(a) is numpy
    assert backend.get_namespace(a, None, 3.0, 2) is numpy  # non-arrays are ignored
    assert backend.get_namespace() is numpy
    assert backend.get_namespace(numpy.float64(1.0), a) is numpy


def test_get_namespace_rejects_mixing():
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        backend.get_namespace(numpy.zeros(2), FakeCupyArray([0.0, 0.0]))
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        backend.get_namespace(FakeCupyArray([0.0]), None, numpy.zeros(1))


def test_layer_rejects_cupy_input_with_numpy_parameters():
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        Linear(3, 2).forward(FakeCupyArray(numpy.zeros((1, 3))))
    with pytest.raises(TypeError, match=r"^layer 0 \(Linear\(3, 3\)\): mixed NumPy and CuPy"):
        Sequential([Linear(3, 3), Linear(3, 2)]).forward(FakeCupyArray(numpy.zeros((1, 3))))


def test_layer_rejects_cupy_dy():
    layer = Linear(3, 2)
    layer.forward(numpy.zeros((1, 3)))
    with pytest.raises(TypeError, match="mixed NumPy and CuPy"):
        layer.backward(FakeCupyArray(numpy.zeros((1, 2))))


def _run_python(code: str, extra_path: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )


def test_import_does_not_import_cupy(tmp_path):
    # a poisoned 'cupy' on the path: importing it at all would fail loudly
    fake = tmp_path / "cupy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('lrp_toolbox imported cupy')\n")
    result = _run_python(
        """
        import sys
        import numpy
        import lrp_toolbox
        import lrp_toolbox.backend
        import lrp_toolbox.modules as m
        model = m.Sequential([m.Linear(3, 2), m.SoftMax()])
        model.forward(numpy.ones((1, 3)))
        assert 'cupy' not in sys.modules, 'cupy was imported'
        print('ok')
        """,
        extra_path=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_plain_import_does_not_import_cupy():
    result = _run_python("import sys, lrp_toolbox; print('cupy' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.gpu
def test_cupy_model_matches_numpy(small_cnn, small_cnn_input_shape):
    cupy = pytest.importorskip("cupy")
    X = numpy.random.default_rng(3).standard_normal((2, *small_cnn_input_shape))
    reference = small_cnn(numpy.random.default_rng(1))
    Y = reference.forward(X)
    DX = reference.backward(numpy.ones_like(Y))
    model = small_cnn(numpy.random.default_rng(1)).to("cupy")
    assert model.params["0.W"].__class__ is cupy.ndarray
    Yg = model.forward(cupy.asarray(X))
    DXg = model.backward(cupy.ones_like(Yg))
    for ref, got in ((Y, Yg), (DX, DXg)):
        assert got.dtype == numpy.float64
        scale = float(numpy.abs(ref).max())
        numpy.testing.assert_allclose(backend.to_numpy(got), ref, rtol=1e-9, atol=1e-12 * scale)
    with pytest.raises(TypeError):
        model.forward(X)
