"""Model I/O: exact round trips in every format, compatibility with the original toolbox's text
format (both ways), atomic writes, pickle refusal and clear errors for bad files."""

from __future__ import annotations

import json
import os
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy
import pytest
import scipy.io
from paths import FIXTURES

from lrp_toolbox import data_io, model_io
from lrp_toolbox.errors import ModelFormatError
from lrp_toolbox.model_io import npz as npz_format
from lrp_toolbox.model_io import text as text_format
from lrp_toolbox.modules import (
    AvgPool,
    Convolution,
    Flatten,
    Linear,
    MaxPool,
    Rect,
    Sequential,
    SoftMax,
    SumPool,
    Tanh,
)

FORMATS = ("txt", "npz", "mat")
INPUT_SHAPE = (9, 9, 2)


def _fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"fixture {path} not available")
    return path


def _randomise(model: Sequential, rng: numpy.random.Generator, dtype: object) -> Sequential:
    for layer in model.modules:
        for name, value in layer.params.items():
            setattr(layer, name, rng.standard_normal(value.shape).astype(dtype))
    return model


def every_layer_model(rng: numpy.random.Generator, dtype: object = numpy.float64) -> Sequential:
    """Every layer type, with padding and dilation (needs text version 2)."""
    head = [
        Convolution((3, 3, 2, 4), stride=(1, 1), padding=((1, 0), (2, 1)), dilation=(1, 2)),
        Rect(),
        AvgPool((2, 2), (1, 1)),
        Convolution((2, 2, 4, 3), stride=(2, 1)),
        Tanh(),
        SumPool((2, 2), (1, 1)),
        MaxPool((2, 1), (1, 1)),
        Flatten(),
    ]
    (features,) = Sequential(head).output_shape(INPUT_SHAPE)
    model = Sequential([*head, Linear(features, 6), Tanh(), Linear(6, 4), SoftMax()])
    return _randomise(model, rng, dtype)


def original_vocabulary_model(rng: numpy.random.Generator) -> Sequential:
    """Only what the original toolbox knows (float64, no padding, no AvgPool)."""
    head = [
        Convolution((3, 3, 2, 3), stride=(1, 1)),
        Rect(),
        SumPool((2, 2), (2, 2)),
        Convolution((2, 2, 3, 4), stride=(1, 1)),
        Tanh(),
        MaxPool((2, 2), (1, 1)),
        Flatten(),
    ]
    (features,) = Sequential(head).output_shape(INPUT_SHAPE)
    model = Sequential([*head, Linear(features, 5), Rect(), Linear(5, 3), SoftMax()])
    return _randomise(model, rng, numpy.float64)


def assert_same_model(a: Sequential, b: Sequential) -> None:
    ra, rb = a.to_records(), b.to_records()
    assert [r.kind for r in ra] == [r.kind for r in rb]
    for x, y in zip(ra, rb, strict=True):
        assert dict(x.config) == dict(y.config)
        assert set(x.arrays) == set(y.arrays)
        for name in x.arrays:
            assert x.arrays[name].dtype == y.arrays[name].dtype
            assert x.arrays[name].shape == y.arrays[name].shape
            # bit-exact, including the sign of zero
            assert x.arrays[name].tobytes() == y.arrays[name].tobytes()


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_round_trip_every_layer_bit_exact(tmp_path, rng, fmt, dtype):
    model = every_layer_model(rng, dtype)
    model.modules[0].W[0, 0, 0, 0] = -0.0
    path = tmp_path / f"model.{fmt}"
    model_io.write(model, path)
    loaded = model_io.read(path)
    assert_same_model(model, loaded)
    assert loaded.dtype == numpy.dtype(dtype)
    X = rng.standard_normal((3, *INPUT_SHAPE)).astype(dtype)
    y0, y1 = model.forward(X), loaded.forward(X)
    assert y1.dtype == numpy.dtype(dtype)
    assert numpy.array_equal(y0, y1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_original_vocabulary(tmp_path, rng, fmt):
    model = original_vocabulary_model(rng)
    path = tmp_path / f"m.{fmt}"
    model_io.write(model, path)
    assert_same_model(model, model_io.read(path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_extreme_values(tmp_path, fmt):
    values = numpy.array(
        [[0.0, -0.0, 5e-324, -5e-324], [1.7976931348623157e308, -2.2250738585072014e-308, 0.1, 1 / 3]]
    )
    model = Sequential([Linear(2, 4), Linear(4, 1)])
    model.modules[0].W = values
    model.modules[0].B = numpy.array([1e-300, -1e300, numpy.pi, -numpy.e])
    path = tmp_path / f"m.{fmt}"
    model_io.write(model, path)
    assert_same_model(model, model_io.read(path))


@pytest.mark.parametrize("fmt", FORMATS)
def test_fmt_argument_overrides_extension(tmp_path, rng, fmt):
    model = original_vocabulary_model(rng)
    path = tmp_path / "model.weights"
    model_io.write(model, path, fmt=fmt)
    assert_same_model(model, model_io.read(path, fmt=fmt))
    assert_same_model(model, model_io.read(path, fmt="." + fmt.upper()))


def test_read_dtype_argument(tmp_path, rng):
    model = original_vocabulary_model(rng)
    model_io.write(model, tmp_path / "m.txt")
    as32 = model_io.read(tmp_path / "m.txt", dtype="float32")
    assert as32.dtype == numpy.float32
    assert numpy.array_equal(as32.modules[0].W, model.modules[0].W.astype(numpy.float32))


def test_write_does_not_mutate_model(tmp_path, rng):
    model = every_layer_model(rng)
    X = rng.standard_normal((2, *INPUT_SHAPE))
    model.forward(X, lrp_aware=True)
    caches = [layer._cache for layer in model.modules]
    params = dict(model.params)
    copies = {k: v.copy() for k, v in params.items()}
    for fmt in FORMATS:
        model_io.write(model, tmp_path / f"m.{fmt}")
    assert [layer._cache for layer in model.modules] == caches
    for key, value in model.params.items():
        assert value is params[key]
        assert numpy.array_equal(value, copies[key])


def test_nested_sequential_and_single_module(tmp_path, rng):
    inner = Sequential([Linear(3, 4), Tanh()])
    model = Sequential([inner, Linear(4, 2)])
    _randomise(Sequential([model.modules[1]]), rng, numpy.float64)
    model_io.write(model, tmp_path / "n.npz")
    loaded = model_io.read(tmp_path / "n.npz")
    assert [type(m).__name__ for m in loaded.modules] == ["Linear", "Tanh", "Linear"]
    model_io.write(Linear(3, 2), tmp_path / "one.txt")
    assert isinstance(model_io.read(tmp_path / "one.txt"), Sequential)


# --------------------------------------------------------------------------- original's files
def test_lenet5_fixture_reproduces_reference_logits():
    model = model_io.read(_fixture("LeNet-5.txt"))
    ref = numpy.load(_fixture("lenet5_reference.npz"), allow_pickle=False)
    kinds = [type(m).__name__ for m in model.modules]
    assert kinds == ["Convolution", "Rect", "SumPool"] * 3 + ["Convolution", "Flatten"]
    logits = model.forward(ref["X"])
    assert logits.dtype == numpy.float64
    err = numpy.abs(logits - ref["logits"]).max() / numpy.abs(ref["logits"]).max()
    assert err <= 1e-12


def test_xor_fixture_loads_and_rewrites_byte_identical(tmp_path):
    path = _fixture("xor_net_small.txt")
    model = model_io.read(path)
    assert [type(m).__name__ for m in model.modules] == [
        "Linear", "Tanh", "Linear", "Tanh", "Linear", "SoftMax"
    ]  # fmt: skip
    assert model.modules[0].W[0, 0] == -2.01595799878
    probs = model.forward(numpy.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
    assert numpy.allclose(probs[:, 0], [0.981, 0.017, 0.038, 0.964], atol=1e-3)
    model_io.write(model, tmp_path / "xor.txt")
    # repr(float) of a 12-digit value is that value: the original's own file comes back
    assert (tmp_path / "xor.txt").read_bytes() == path.read_bytes()


def test_lenet5_fixture_rewrite_round_trip(tmp_path):
    model = model_io.read(_fixture("LeNet-5.txt"))
    model_io.write(model, tmp_path / "lenet.txt")
    text = (tmp_path / "lenet.txt").read_text()
    assert not text.startswith("#")  # version 1: the original can read it
    assert_same_model(model, model_io.read(tmp_path / "lenet.txt"))
    _assert_original_grammar(text, model)


def test_legacy_linear_variant(tmp_path):
    model = model_io.read(_fixture("xor_net_small.txt"))
    lines = []
    for layer in model.modules:
        if isinstance(layer, Linear):
            lines.append(f"Linear {layer.m} {layer.n}")
            lines += [" ".join(map(repr, row)) for row in layer.W.tolist()]
            lines.append(" ".join(map(repr, layer.B.tolist())))
        else:
            lines.append(type(layer).__name__)
    (tmp_path / "legacy.txt").write_text("\n".join(lines) + "\n")
    assert_same_model(model, model_io.read(tmp_path / "legacy.txt"))


def test_legacy_variant_is_decided_per_block(tmp_path):
    W1, W2 = numpy.arange(6.0).reshape(2, 3), numpy.arange(6.0).reshape(3, 2) / 7
    text = (
        "Linear 2 3\n" + " ".join(map(repr, W1.ravel().tolist())) + "\n0.0 1.0 2.0\n"
        "Linear 3 2\n" + "\n".join(" ".join(map(repr, r)) for r in W2.tolist()) + "\n0.5 -0.5\n"
    )
    (tmp_path / "mixed.txt").write_text(text)
    model = model_io.read(tmp_path / "mixed.txt")
    assert numpy.array_equal(model.modules[0].W, W1)
    assert numpy.array_equal(model.modules[1].W, W2)


# --------------------------------------------------------------------------- text specifics
def _assert_original_grammar(text: str, model: Sequential) -> None:
    """An independent parser that follows the original's grammar to the letter."""
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    assert all(line == line.strip() and "  " not in line for line in lines)
    i = 0
    layers = []
    while i < len(lines):
        tokens = lines[i].split(" ")
        name, ints = tokens[0], [int(t) for t in tokens[1:]]
        if name in ("Linear", "Convolution"):
            W = [float(t) for t in lines[i + 1].split(" ")]
            B = [float(t) for t in lines[i + 2].split(" ")]
            assert len(ints) == (2 if name == "Linear" else 6)
            assert len(W) == numpy.prod(ints[:2] if name == "Linear" else ints[:4])
            assert len(B) == ints[1 if name == "Linear" else 3]
            layers.append((name, ints, W, B))
            i += 3
        else:
            assert name in ("SumPool", "MaxPool", "Rect", "Tanh", "SoftMax", "Flatten")
            assert len(ints) == (4 if name.endswith("Pool") else 0)
            layers.append((name, ints, None, None))
            i += 1
    assert len(layers) == len(model.modules)
    for (name, ints, W, B), layer in zip(layers, model.modules, strict=True):
        assert name == type(layer).__name__
        if W is not None:
            assert numpy.array_equal(numpy.array(W), layer.W.ravel())
            assert numpy.array_equal(numpy.array(B), layer.B)
            cfg = layer.to_record().config
            expected = [cfg["m"], cfg["n"]] if name == "Linear" else [*cfg["filtersize"], *cfg["stride"]]
            assert ints == expected
        elif name.endswith("Pool"):
            assert ints == [*layer.pool, *layer.stride]


def test_written_text_follows_original_grammar(tmp_path, rng):
    model = original_vocabulary_model(rng)
    model_io.write(model, tmp_path / "m.txt")
    text = (tmp_path / "m.txt").read_text()
    assert not text.startswith("#")
    assert "np.float64" not in text
    _assert_original_grammar(text, model)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("float32", "#lrp_toolbox-text 2 dtype=float32"),
        ("padding", "padding=1,0,2,1"),
        ("dilation", "dilation=1,2"),
        ("avgpool", "AvgPool 2 2 2 2"),
    ],
)
def test_version_2_only_when_needed(tmp_path, rng, change, expected):
    if change == "float32":
        model = original_vocabulary_model(rng).to(dtype=numpy.float32)
    else:
        layers = {
            "padding": [Convolution((3, 3, 2, 3), (1, 1), padding=((1, 0), (2, 1)))],
            "dilation": [Convolution((3, 3, 2, 3), (1, 1), dilation=(1, 2))],
            "avgpool": [AvgPool((2, 2), (2, 2))],
        }[change]
        model = Sequential([*layers, Flatten()])
    model_io.write(model, tmp_path / "m.txt")
    text = (tmp_path / "m.txt").read_text()
    assert text.startswith("#lrp_toolbox-text 2 dtype=")
    assert expected in text
    assert_same_model(model, model_io.read(tmp_path / "m.txt"))


def test_float32_text_values_are_exact_float64_reprs(tmp_path):
    model = Sequential([Linear(1, 2)]).to(dtype=numpy.float32)
    model.modules[0].W = numpy.array([[0.1, 1 / 3]], dtype=numpy.float32)
    model_io.write(model, tmp_path / "m.txt")
    lines = (tmp_path / "m.txt").read_text().split("\n")
    assert lines[2] == " ".join(repr(float(numpy.float32(v))) for v in (0.1, 1 / 3))
    loaded = model_io.read(tmp_path / "m.txt")
    assert loaded.dtype == numpy.float32
    assert numpy.array_equal(loaded.modules[0].W, model.modules[0].W)


def _xor_text() -> str:
    return _fixture("xor_net_small.txt").read_text()


@pytest.mark.parametrize(
    "transform",
    [
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.rstrip("\n"),
        lambda t: t.replace("\n", " \t \n"),
        lambda t: t.replace("\nTanh\n", "\n\n\nTanh\n\n").replace("\nSoftMax", "\n  \nSoftMax"),
        lambda t: t + "\n\n   \n",
        lambda t: "\n\n" + t,
        lambda t: "\ufeff" + t,
        lambda t: t.replace(" ", "   "),
    ],
    ids=["crlf", "no-final-newline", "trailing-blanks", "blank-lines", "trailing-blank-lines",
         "leading-blank-lines", "bom", "multiple-spaces"],
)  # fmt: skip
def test_text_tolerance(tmp_path, transform):
    reference = model_io.read(_fixture("xor_net_small.txt"))
    (tmp_path / "m.txt").write_bytes(transform(_xor_text()).encode("utf-8"))
    assert_same_model(reference, model_io.read(tmp_path / "m.txt"))


def test_blank_line_never_truncates(tmp_path):
    text = _xor_text().replace("SoftMax", "\nSoftMax")
    (tmp_path / "m.txt").write_text(text)
    assert type(model_io.read(tmp_path / "m.txt").modules[-1]).__name__ == "SoftMax"


# --------------------------------------------------------------------------- bad files
BAD_TEXT = {
    "truncated-bias": ("Linear 2 3\n1 2 3 4 5 6\n", "end of file"),
    "truncated-mid-line": ("Linear 2 3\n1 2 3 4 5 6\n1 2\n", "line 3: expected 3 bias values"),
    "wrong-count": ("Linear 2 3\n1 2 3 4 5\n1 2 3\n", "line 2: expected 6 weight values"),
    "nan": ("Linear 1 2\n1 nan\n0 0\n", "line 2: value 2 is 'nan'"),
    "inf": ("Linear 1 2\n1 2\n-inf 0\n", "line 3: value 1 is '-inf'"),
    "overflow": ("Linear 1 2\n1 1e999\n0 0\n", "line 2: value 2"),
    "not-a-number": ("Linear 1 2\n1 x\n0 0\n", "line 2: value 2 ('x') is not a number"),
    "underscore": ("Linear 1 2\n1 1_0\n0 0\n", "is not a number"),
    "unknown-layer": ("Linear 1 1\n1\n0\nDropout\n", "line 4: unknown layer 'Dropout'"),
    "prefix-match": ("Rectifier\n", "line 1: unknown layer 'Rectifier'"),
    "lowercase": ("linear 1 1\n1\n0\n", "unknown layer 'linear'"),
    "extra-settings": ("Rect 1\n", "line 1: Rect takes no settings"),
    "bad-header-ints": ("Linear 2\n1 2\n0\n", "line 1: Linear expects 2 integer(s)"),
    "zero-size": ("Linear 0 3\n\n1 2 3\n", "must be >= 1"),
    "negative-size": ("SumPool 2 -2 2 2\n", "SumPool expects 4 integer(s)"),
    "huge-int": ("Linear 99999999999999999999 1\n1\n0\n", "Linear expects 2 integer(s)"),
    "inconsistent-linear": (
        "Linear 2 3\n1 2 3 4 5 6\n1 2 3\nLinear 784 10\n"
        + " ".join(["0"] * 7840)
        + "\n"
        + " ".join(["0"] * 10)
        + "\n",
        "layer 1 (Linear 784x10, line 4) expects 784 inputs but layer 0 (Linear 2x3, line 1) produces 3",
    ),
    "conv-depth": (
        "Convolution 1 1 1 2 1 1\n1 2\n0 0\nRect\nConvolution 1 1 3 1 1 1\n1 2 3\n0\n",
        "expects input depth 3 but layer 0",
    ),
    "conv-after-linear": ("Linear 1 1\n1\n0\nMaxPool 2 2 2 2\n", "needs image input"),
    "avgpool-v1": ("AvgPool 2 2 2 2\n", "AvgPool needs the version-2 header"),
    "padding-v1": ("Convolution 1 1 1 1 1 1 padding=1,1,1,1\n1\n0\n", "needs the version-2 header"),
    "future-version": ("#lrp_toolbox-text 3\nRect\n", "version 3 is newer"),
    "bad-header-field": ("#lrp_toolbox-text 2 dtype=int8\nRect\n", "unknown header field"),
    "comment": ("# a comment\nRect\n", "unknown header"),
    "empty": ("", "no layers"),
    "blank": ("\n \r\n\n", "no layers"),
    "extra-value-lines": ("Linear 1 1\n1\n0\n0\nRect\n", "line 4: unknown layer '0'"),
    "legacy-wrong-row": ("Linear 2 2\n1 2\n3\n0 0\n", "expected 2 values (legacy weight row 2"),
    "legacy-in-v2": ("#lrp_toolbox-text 2 dtype=float64\nLinear 2 2\n1 2\n3 4\n0 0\n", "expected 4"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_bad_text_files(tmp_path, case):
    content, message = BAD_TEXT[case]
    path = tmp_path / f"{case}.txt"
    path.write_text(content)
    _assert_read_fails(path, message)


def _assert_read_fails(path, message):
    """Reading ``path`` raises ``ModelFormatError`` naming the file and containing ``message``."""
    with pytest.raises(ModelFormatError) as info:
        model_io.read(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_binary_garbage_text(tmp_path):
    path = tmp_path / "garbage.txt"
    path.write_bytes(b"Linear 1 1\n\xff\xfe\x00\x81\n0\n")
    with pytest.raises(ModelFormatError, match="not ASCII"):
        model_io.read(path)


@pytest.mark.parametrize("header", ["Linear 100000000 100000000", "Convolution 10000 10000 10000 10000 1 1"])
def test_absurd_declared_sizes_do_not_allocate(tmp_path, header):
    path = tmp_path / "absurd.txt"
    path.write_text(f"{header}\n1 2 3\n1 2\n")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelFormatError, match="line 2: expected"):
            model_io.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 10 * 2**20


# --------------------------------------------------------------------------- pickle refusal
@pytest.mark.parametrize("name", ["model.nn", "model.pickle", "model.pickled", "model.pkl", "model"])
def test_pickle_formats_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x80\x04\x95 this would be a pickle")
    with pytest.raises(ModelFormatError, match="arbitrary code") as info:
        model_io.read(path)
    assert ".txt" in str(info.value)
    assert str(path) in str(info.value)
    with pytest.raises(ModelFormatError, match="arbitrary code"):
        model_io.write(Sequential([Rect()]), tmp_path / ("out_" + name))
    assert not (tmp_path / ("out_" + name)).exists()


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        model_io.read(tmp_path / "absent.txt")


def test_unknown_extension(tmp_path):
    with pytest.raises(ModelFormatError, match="unknown model format 'h5'"):
        model_io.read(tmp_path / "m.h5")


# --------------------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_keeps_old_file(tmp_path, rng, monkeypatch, fmt, exc):
    path = tmp_path / f"model.{fmt}"
    model_io.write(original_vocabulary_model(rng), path)
    before = path.read_bytes()
    listing = sorted(os.listdir(tmp_path))

    def boom(*args, **kwargs):
        raise exc("interrupted")

    # the content is already (partly) in the temporary file when fsync runs
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(exc, match="interrupted"):
        model_io.write(every_layer_model(rng), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == listing


def test_interrupted_in_the_middle_of_the_data(tmp_path, rng, monkeypatch):
    path = tmp_path / "model.npz"
    model_io.write(original_vocabulary_model(rng), path)
    before = path.read_bytes()
    real = npz_format.write_npz

    def half(fh, arrays):
        real(fh, arrays)
        fh.truncate(fh.tell() // 2)
        raise OSError("disk full")

    monkeypatch.setattr(npz_format, "write_npz", half)
    with pytest.raises(OSError, match="disk full"):
        model_io.write(every_layer_model(rng), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]


def test_refused_model_writes_nothing(tmp_path):
    model = Sequential([Linear(2, 2)])
    model.modules[0].W[0, 0] = numpy.nan
    with pytest.raises(ModelFormatError, match="NaN"):
        model_io.write(model, tmp_path / "m.npz")
    inconsistent = Sequential([Linear(2, 3), Linear(4, 1)])
    with pytest.raises(ModelFormatError, match="expects 4 inputs"):
        model_io.write(inconsistent, tmp_path / "m.txt")
    assert os.listdir(tmp_path) == []


def test_write_keeps_permissions(tmp_path, rng):
    path = tmp_path / "m.txt"
    path.write_text("old")
    path.chmod(0o640)
    model_io.write(original_vocabulary_model(rng), path)
    assert (path.stat().st_mode & 0o777) == 0o640


# --------------------------------------------------------------------------- npz layout
def test_npz_layout(tmp_path, rng):
    model = every_layer_model(rng, numpy.float32)
    model_io.write(model, tmp_path / "m.npz")
    with numpy.load(tmp_path / "m.npz", allow_pickle=False) as z:
        arch = z["architecture"]
        assert arch.shape == () and arch.dtype.kind == "U"
        doc = json.loads(str(arch[()]))
        assert doc["format"] == "lrp_toolbox-model" and doc["version"] == 1
        assert [layer["type"] for layer in doc["layers"]] == [type(m).__name__ for m in model.modules]
        assert doc["layers"][0]["config"] == {
            "filtersize": [3, 3, 2, 4],
            "stride": [1, 1],
            "padding": [[1, 0], [2, 1]],
            "dilation": [1, 2],
        }
        assert z["layers.0.W"].dtype == numpy.float32
        assert sorted(z.files) == sorted(
            ["architecture"] + [f"layers.{i}.{n}" for i, m in enumerate(model.modules) for n in m.params]
        )


def _rewrite_npz(src: Path, dst: Path, drop=(), add=None, replace=None) -> None:
    with numpy.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in drop}
    arrays.update(add or {})
    arrays.update(replace or {})
    numpy.savez(dst, **arrays)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"drop": ["layers.0.B"]}, "missing ['layers.0.B']"),
        ({"add": {"extra": numpy.zeros(2)}}, "unexpected ['extra']"),
        ({"drop": ["architecture"]}, "no member 'architecture'"),
        ({"replace": {"architecture": numpy.array("{not json")}}, "invalid JSON"),
        ({"replace": {"architecture": numpy.frombuffer(b"{}", numpy.uint8)}}, "0-d unicode"),
        ({"replace": {"layers.0.W": numpy.zeros((2, 2))}}, "layer 0 (members layers.0.*): Linear W"),
        ({"replace": {"layers.0.W": numpy.full((2, 3), numpy.inf)}}, "NaN/Inf"),
        ({"replace": {"layers.0.W": numpy.zeros((2, 3), numpy.int64)}}, "float32 or float64"),
        (
            {
                "replace": {
                    "architecture": numpy.array('{"format": "lrp_toolbox-model", "version": 2, "layers": []}')
                }
            },
            "version 2 is newer",
        ),
        (
            {
                "replace": {
                    "architecture": numpy.array(
                        '{"format": "lrp_toolbox-model", "version": 1, "layers": '
                        '[{"type": "Linear", "config": {"m": 2, "n": 3}}, {"type": "Linear", '
                        '"config": {"m": 784, "n": 10}}]}'
                    ),
                    "layers.1.W": numpy.zeros((784, 10)),
                    "layers.1.B": numpy.zeros(10),
                }
            },
            "expects 784 inputs",
        ),
        (
            {
                "replace": {
                    "architecture": numpy.array(
                        '{"format": "lrp_toolbox-model", "version": 1, "layers": '
                        '[{"type": "Pickle", "config": {}}]}'
                    )
                }
            },
            "unknown layer type 'Pickle'",
        ),
    ],
)
def test_bad_npz_members(tmp_path, edit, message):
    src = tmp_path / "good.npz"
    model_io.write(Sequential([Linear(2, 3)]), src)
    dst = tmp_path / "bad.npz"
    _rewrite_npz(src, dst, **edit)
    _assert_read_fails(dst, message)


def test_npz_object_member_is_refused_without_unpickling(tmp_path):
    src = tmp_path / "good.npz"
    model_io.write(Sequential([Linear(2, 3)]), src)
    dst = tmp_path / "bad.npz"
    _rewrite_npz(src, dst, replace={"layers.0.B": numpy.array([object()] * 3, dtype=object)})
    with pytest.raises(ModelFormatError, match="unpickle"):
        model_io.read(dst)


def test_npz_forged_member_header_is_refused_before_allocation(tmp_path):
    src = tmp_path / "good.npz"
    model_io.write(Sequential([Linear(2, 3)]), src)
    dst = tmp_path / "forged.npz"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "layers.0.W.npy":
                data = data.replace(b"'shape': (2, 3)", b"'shape': (9999999999,)")
            zout.writestr(info, data)
    start = time.perf_counter()
    with pytest.raises(ModelFormatError):
        model_io.read(dst)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04garbage", b"\x93NUMPY\x01\x00", b"hello"])
def test_npz_not_an_archive(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=str(path).replace("\\", "\\\\")):
        model_io.read(path)


def test_npz_empty_archive_is_named_as_such(tmp_path):
    path = tmp_path / "m.npz"
    zipfile.ZipFile(path, "w").close()
    for read in (model_io.read, data_io.read):
        with pytest.raises(ModelFormatError, match="archive is empty: it holds no arrays"):
            read(path)


# --------------------------------------------------------------------------- mat layout
def test_mat_layout(tmp_path, rng):
    model = every_layer_model(rng)
    model_io.write(model, tmp_path / "m.mat")
    content = scipy.io.loadmat(tmp_path / "m.mat", squeeze_me=True, struct_as_record=False)
    assert content["model_format"] == "lrp_toolbox-model"
    assert content["format_version"] == 1
    layers = content["layers"]
    assert len(layers) == len(model.modules)
    conv = layers[0]
    assert conv.type == "Convolution"
    assert conv.filtersize.tolist() == [3, 3, 2, 4]
    assert conv.padding.tolist() == [1, 0, 2, 1]
    assert conv.dilation.tolist() == [1, 2]
    assert numpy.array_equal(conv.W, model.modules[0].W)
    lin = layers[8]
    assert (lin.type, lin.m, lin.n) == ("Linear", model.modules[8].m, 6)
    assert layers[2].type == "AvgPool" and layers[2].pool.tolist() == [2, 2]


def test_mat_written_by_hand_like_matlab(tmp_path):
    """What a MATLAB user writes: doubles, B as a column, trailing singleton dims dropped."""
    W1 = numpy.arange(12.0).reshape(2, 2, 3, 1)  # MATLAB stores this as 2x2x3
    cell = numpy.empty((1, 4), dtype=object)
    cell[0, 0] = {"type": "Convolution", "filtersize": [2.0, 2, 3, 1], "stride": [1.0, 1],
                  "W": W1[..., 0], "B": numpy.array([[0.5]])}  # fmt: skip
    cell[0, 1] = {"type": "Rect"}
    cell[0, 2] = {"type": "Flatten"}
    cell[0, 3] = {"type": "Linear", "m": 4.0, "n": 1.0, "W": numpy.ones((4, 1)), "B": numpy.array([[2.0]])}
    scipy.io.savemat(tmp_path / "hand.mat", {"layers": cell})
    model = model_io.read(tmp_path / "hand.mat")
    assert numpy.array_equal(model.modules[0].W, W1)
    assert model.modules[0].padding == ((0, 0), (0, 0))
    assert model.modules[3].B.tolist() == [2.0]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"weights": numpy.zeros(3)}, "no variable 'layers'"),
        ({"layers": numpy.zeros(3)}, "1xL cell array"),
        ({"layers": "Linear"}, "1xL cell array"),
        ({"layers": numpy.array([[{"type": "Linear", "m": 2.0, "n": 1.0}]], dtype=object)}, "missing"),
        ({"layers": numpy.array([[{"type": "Rect", "alpha": 1.0}]], dtype=object)}, "unknown ['alpha']"),
        ({"layers": numpy.array([[{"type": "Eval"}]], dtype=object)}, "type must be one of"),
        (
            {
                "layers": numpy.array(
                    [[{"type": "SumPool", "pool": [2.5, 2], "stride": [2.0, 2]}]], dtype=object
                )
            },
            "whole numbers",
        ),
        ({"layers": numpy.array([[{"type": "Rect"}]], dtype=object), "x": 1.0}, "unexpected variables"),
        ({"layers": numpy.array([[{"type": "Rect"}]], dtype=object), "format_version": 2.0}, "not supported"),
    ],
)
def test_bad_mat_files(tmp_path, variables, message):
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, variables)
    with pytest.raises(ModelFormatError) as info:
        model_io.read(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("content", [b"", b"MATLAB 5.0 MAT-file" + b"\0" * 200, b"\x89HDF\r\n\x1a\n" * 64])
def test_mat_garbage(tmp_path, content):
    path = tmp_path / "m.mat"
    path.write_bytes(content)
    with pytest.raises(ModelFormatError, match=r"MAT|mat"):
        model_io.read(path)


@pytest.mark.parametrize("ext", ["npz", "txt", "mat"])
def test_read_records_does_not_build(tmp_path, rng, ext):
    model = every_layer_model(rng)
    model_io.write(model, tmp_path / f"m.{ext}")
    records = model_io.read_records(tmp_path / f"m.{ext}")
    assert [r.kind for r in records] == [type(m).__name__ for m in model.modules]
    for record, module in zip(records, model.modules, strict=True):
        for name in module.param_names:
            assert numpy.array_equal(record.arrays[name], getattr(module, name)), (ext, record.kind, name)


def test_text_format_parse_returns_locations():
    records, locations, dtype = text_format.parse(b"Rect\n\nLinear 1 1\n1\n2\n", "mem")
    assert locations == ["line 1", "line 3"] and dtype == numpy.float64
    assert records[1].arrays["B"].tolist() == [2.0]


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"type": "Linear", "m": 2.0, "n": 1.0, "W": [[1.0], [numpy.inf]], "B": [0.0]},
            "layers{2} (Linear): ",
        ),
        ({"type": "SumPool", "pool": [0.0, 2], "stride": [2.0, 2]}, "layers{2} (SumPool): "),
    ],
)
def test_mat_errors_name_the_layer(tmp_path, layer, message):
    cell = numpy.empty((1, 2), dtype=object)
    cell[0, 0] = {"type": "Rect"}
    cell[0, 1] = {k: numpy.array(v) if isinstance(v, list) else v for k, v in layer.items()}
    scipy.io.savemat(tmp_path / "bad.mat", {"layers": cell})
    with pytest.raises(ModelFormatError) as info:
        model_io.read(tmp_path / "bad.mat")
    assert message in str(info.value)


def test_big_endian_parameters_are_read_in_native_order(tmp_path, rng):
    model = Sequential([Linear(3, 2, rng=rng)])
    records = model.to_records()
    swapped = [
        type(r)(r.kind, r.config, {k: v.astype(v.dtype.newbyteorder(">")) for k, v in r.arrays.items()})
        for r in records
    ]
    with open(tmp_path / "be.npz", "wb") as fh:
        npz_format.write(swapped, fh)
    back = model_io.read(tmp_path / "be.npz")
    assert back.modules[0].W.dtype == numpy.float64 and back.modules[0].W.dtype.isnative
    assert numpy.array_equal(back.modules[0].W, model.modules[0].W)
