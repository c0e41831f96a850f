"""Seeded fuzzing of every reader: a mutated file either loads as a valid model/array or raises
``ModelFormatError``; never another exception, never more than a second per case.

The default run mutates each seed file a few dozen times (a few hundred cases in total);
``pytest -m slow`` runs thousands. Each failure message names the seed and mutations, so a case can
be replayed with ``Mutator(seed).mutate(data, text)``.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy
import pytest
from paths import FIXTURES

from lrp_toolbox import data_io, model_io
from lrp_toolbox.errors import ModelFormatError
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

DEFAULT_CASES = 40
SLOW_CASES = 600
NUMBERS = [
    "nan",
    "inf",
    "-inf",
    "NaN",
    "1e999",
    "-1e999",
    "1e308",
    "-1",
    "0",
    "-0",
    "1e-400",
    "99999999999",
    "4294967297",
    "2147483648",
    "-5",
    "",
    "x",
    "0x10",
    "1_0",
    "1e",
    "--1",
]


class Mutator:
    """Seeded file mutations: byte flips, truncation, token deletion and duplication, number
    replacement (nan/inf/huge/negative), line shuffles, chunk deletion/duplication."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.log: list[str] = []

    # byte level
    def flip(self, data: bytes) -> bytes:
        if not data:
            return data
        buf = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            i = self.rng.randrange(len(buf))
            buf[i] ^= 1 << self.rng.randrange(8)
        return bytes(buf)

    def truncate(self, data: bytes) -> bytes:
        return data[: self.rng.randrange(len(data) + 1)]

    def chunk(self, data: bytes) -> bytes:
        if len(data) < 2:
            return data
        i = self.rng.randrange(len(data))
        j = min(len(data), i + self.rng.randint(1, 64))
        op = self.rng.choice(["delete", "duplicate", "random", "ff"])
        if op == "delete":
            return data[:i] + data[j:]
        if op == "duplicate":
            return data[:j] + data[i:j] + data[j:]
        filler = bytes(self.rng.randrange(256) for _ in range(j - i)) if op == "random" else b"\xff" * (j - i)
        return data[:i] + filler + data[j:]

    # text level
    def _tokens(self, text: str) -> list[list[str]]:
        return [line.split(" ") for line in text.split("\n")]

    def _join(self, lines: list[list[str]]) -> str:
        return "\n".join(" ".join(tokens) for tokens in lines)

    def token(self, text: str) -> str:
        lines = self._tokens(text)
        i = self.rng.randrange(len(lines))
        tokens = lines[i]
        j = self.rng.randrange(len(tokens))
        op = self.rng.choice(["delete", "duplicate", "number", "number"])
        if op == "delete":
            del tokens[j]
        elif op == "duplicate":
            tokens.insert(j, tokens[j])
        else:
            tokens[j] = self.rng.choice(NUMBERS)
        return self._join(lines)

    def lines(self, text: str) -> str:
        lines = text.split("\n")
        i, j = self.rng.randrange(len(lines)), self.rng.randrange(len(lines))
        op = self.rng.choice(["swap", "delete", "duplicate", "blank", "shuffle"])
        if op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(j, lines[i])
        elif op == "blank":
            lines.insert(i, self.rng.choice(["", " ", "\r", "\t"]))
        else:
            self.rng.shuffle(lines)
        return "\n".join(lines)

    def mutate(self, data: bytes, text: bool) -> bytes:
        for _ in range(self.rng.randint(1, 3)):
            ops = ["flip", "truncate", "chunk"] + (
                ["token", "token", "token", "lines", "lines"] if text else []
            )
            op = self.rng.choice(ops)
            self.log.append(op)
            if op in ("token", "lines"):
                try:
                    decoded = data.decode("ascii")
                except UnicodeDecodeError:
                    continue
                data = getattr(self, op)(decoded).encode("ascii")
            else:
                data = getattr(self, op)(data)
        return data


def _small_models() -> dict[str, Sequential]:
    rng = numpy.random.default_rng(7)

    def randomise(model: Sequential, dtype=numpy.float64) -> Sequential:
        for layer in model.modules:
            for name, value in layer.params.items():
                setattr(layer, name, rng.standard_normal(value.shape).astype(dtype))
        return model

    v1 = Sequential(
        [
            Convolution((2, 2, 1, 2), (1, 1)),
            Rect(),
            SumPool((2, 2), (2, 2)),
            Convolution((1, 1, 2, 3), (1, 1)),
            MaxPool((2, 2), (1, 1)),
            Flatten(),
            Linear(3, 2),
            Tanh(),
            Linear(2, 2),
            SoftMax(),
        ]
    )
    v2 = Sequential(
        [
            Convolution((2, 2, 1, 2), (1, 1), padding=((1, 0), (0, 1)), dilation=(2, 1)),
            AvgPool((2, 2), (1, 1)),
            Flatten(),
            Linear(8, 2),
        ]
    )
    return {"v1": randomise(v1), "v2": randomise(v2, numpy.float32)}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, list[tuple[str, bytes]]]:
    """Seed files per reader: (file name, content)."""
    folder = tmp_path_factory.mktemp("seeds")
    models = _small_models()
    out: dict[str, list[tuple[str, bytes]]] = {"txt": [], "npz": [], "mat": [], "data": []}
    for key, model in models.items():
        for fmt in ("txt", "npz", "mat"):
            path = folder / f"{key}.{fmt}"
            model_io.write(model, path)
            out[fmt].append((path.name, path.read_bytes()))
    xor = FIXTURES / "xor_net_small.txt"
    if xor.is_file():
        out["txt"].append(("xor.txt", xor.read_bytes()))
        legacy = b"Linear 2 3\n1.5 -2 0.25\n3 4 5\n0 0 0\nTanh\nLinear 3 1\n1\n2\n3\n0.5\nSoftMax\n"
        out["txt"].append(("legacy.txt", legacy))
    rng = numpy.random.default_rng(3)
    arrays = {
        "a.npy": rng.standard_normal((3, 4)),
        "a.txt": rng.standard_normal((3, 4)).astype(numpy.float32),
        "a-idx3-ubyte": rng.integers(0, 255, (4, 3, 3), dtype=numpy.uint8),
        "a-idx1-ubyte.gz": rng.integers(0, 9, 20, dtype=numpy.uint8),
        "a.mat": rng.standard_normal((2, 3)),
    }
    for name, value in arrays.items():
        data_io.write(value, folder / name)
        out["data"].append((name, (folder / name).read_bytes()))
    data_io.write({"x": numpy.arange(5.0), "y": numpy.eye(2)}, folder / "a.npz")
    out["data"].append(("a.npz", (folder / "a.npz").read_bytes()))
    return out


def _check_model(path: Path, tmp_path: Path) -> None:
    try:
        model = model_io.read(path)
    except ModelFormatError:
        return
    # a successful load must be a valid model: finite and writable/readable again, identically
    for value in model.params.values():
        assert numpy.isfinite(value).all()
    again = tmp_path / f"again{path.suffix}"
    model_io.write(model, again)
    reread = model_io.read(again)
    for (k, a), (_, b) in zip(model.params.items(), reread.params.items(), strict=True):
        assert a.dtype == b.dtype and numpy.array_equal(a, b), k


def _check_data(path: Path, tmp_path: Path) -> None:
    try:
        value = data_io.read(path, key="x" if path.suffix == ".npz" else None)
    except ModelFormatError:
        return
    assert isinstance(value, numpy.ndarray)


def _run(kind: str, seeds, tmp_path: Path, cases: int, base_seed: int) -> None:
    check = _check_data if kind == "data" else _check_model
    for index, (name, content) in enumerate(seeds[kind]):
        for case in range(cases):
            seed = base_seed + 1000 * index + case
            mutator = Mutator(seed)
            mutated = mutator.mutate(content, text=name.endswith(".txt"))
            path = tmp_path / name
            path.write_bytes(mutated)
            start = time.perf_counter()
            try:
                check(path, tmp_path)
            except Exception as exc:
                raise AssertionError(
                    f"{kind} seed file {name}, Mutator({seed}) ops {mutator.log}: {type(exc).__name__}: {exc}"
                ) from exc
            elapsed = time.perf_counter() - start
            assert elapsed < 1.0, f"{name} Mutator({seed}) {mutator.log} took {elapsed:.2f} s"


@pytest.mark.parametrize("kind", ["txt", "npz", "mat", "data"])
def test_fuzz_readers(kind, seeds, tmp_path):
    _run(kind, seeds, tmp_path, DEFAULT_CASES, base_seed=12345)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["txt", "npz", "mat", "data"])
def test_fuzz_readers_long(kind, seeds, tmp_path):
    _run(kind, seeds, tmp_path, SLOW_CASES, base_seed=10_000_000)


def test_mutator_is_deterministic():
    data = b"Linear 2 3\n1 2 3 4 5 6\n0 0 0\n"
    assert Mutator(5).mutate(data, True) == Mutator(5).mutate(data, True)
