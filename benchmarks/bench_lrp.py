"""LRP benchmark: forward and LRP time, peak LRP memory, and agreement with zennit, in one table.

Networks (random weights, ``benchmarks/networks.py``): the MNIST MLP and LeNet-5 at batch 100, and
VGG-16 on 224x224x3 inputs at batch 1 on the CPU and batch 16 on a GPU. Rules, each with zennit's
conventions (``benchmarks/zennit_bridge.py``): ``epsilon`` (ε = 1e-6 on every Linear/Convolution),
``zplus`` and ``alpha2beta1`` (on every Linear/Convolution, stabiliser 1e-6), and the composite
``epsilon_plus_flat``. Pools get zennit's ``Norm`` (``Zero`` with the matching stabiliser), MaxPool
the single-winner rule (zennit's gradient).

Run ``python benchmarks/bench_lrp.py`` (about 3-5 minutes on 2 CPU cores), ``--quick`` for a smoke
test (MLP and LeNet-5, batch 10, one repeat), ``--no-zennit`` to skip torch/zennit, and
``--backends cupy`` on a GPU machine (see ``benchmarks/run_gpu.sh``). NumPy's BLAS and torch run on
one thread unless ``--threads N`` (0: the libraries' defaults). Columns: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import os
import platform
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threads import add_threads_argument, early_threads

if __name__ == "__main__":
    early_threads(sys.argv[1:])

import numpy
import zennit_bridge as zb
from networks import lenet5, mnist_mlp, vgg16
from timing import median_seconds

from lrp_toolbox import backend
from lrp_toolbox.cli import int_at_least

NETWORKS: dict[str, Callable[..., Any]] = {"mlp": mnist_mlp, "lenet5": lenet5, "vgg16": vgg16}
BATCH = {"mlp": 100, "lenet5": 100}
VGG_BATCH = {"numpy": 1, "cupy": 16}
DEFAULT_REPEATS = {"mlp": 5, "lenet5": 5, "vgg16": 1}
"""Timed runs per measurement (the memory run doubles as warm-up). VGG-16 on the CPU is heavy."""

MB = 2.0**20


# ------------------------------------------------------------------------------ backends
def cupy_or_none() -> Any:
    """The ``cupy`` module when it imports and sees a GPU, else ``None`` (never raises)."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # ImportError, CUDARuntimeError, missing driver libraries, ...
        return None
    return cupy


def zennit_available() -> bool:
    """Whether torch and zennit import."""
    try:
        import torch  # noqa: F401
        import zennit  # noqa: F401
    except Exception:
        return False
    return True


def make_sync(name: str) -> Callable[[], None] | None:
    """Device synchronisation for timing (``None`` on the CPU)."""
    if name == "cupy":
        import cupy

        return lambda: cupy.cuda.Device().synchronize()
    return None


@contextlib.contextmanager
def peak_memory(name: str) -> Iterator[dict[str, int]]:
    """Peak bytes allocated (above what is live at entry) inside the ``with`` block.

    NumPy: ``tracemalloc`` (NumPy reports its data buffers to it). CuPy: the default memory pool's
    ``used_bytes`` high-water mark, tracked by an allocator wrapper, after ``free_all_blocks()``.
    """
    out = {"peak": 0}
    if name == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        cupy.cuda.Device().synchronize()
        pool.free_all_blocks()
        base = pool.used_bytes()
        high = [base]

        def malloc(size: int) -> Any:
            mem = pool.malloc(size)
            high[0] = max(high[0], pool.used_bytes())
            return mem

        cupy.cuda.set_allocator(malloc)
        try:
            yield out
            cupy.cuda.Device().synchronize()
        finally:
            cupy.cuda.set_allocator(pool.malloc)
        out["peak"] = high[0] - base
        return
    gc.collect()
    tracemalloc.start()
    try:
        yield out
        out["peak"] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def stored_bytes(model: Any, X: Any) -> tuple[int, int]:
    """``(activation bytes, parameter bytes)`` held after a forward: the input, every layer output
    and pre-activation the forward keeps (``cache.z``: SumPool's window sums; each distinct array
    once) and every parameter array."""
    seen: dict[int, int] = {id(X): X.nbytes}
    for layer in model.modules:
        for kept in (layer.cache.y, layer.cache.z):
            if kept is not None:
                seen.setdefault(id(kept), kept.nbytes)
    params = sum(p.nbytes for layer in model.modules for p in layer.params.values())
    return sum(seen.values()), params


# ----------------------------------------------------------------------------- measuring
def fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def bench_config(net: str, bk: str, dtype: str, rules: list[str], args: argparse.Namespace) -> list[str]:
    """Table rows of one (network, backend, dtype)."""
    build = NETWORKS[net]
    model, shape = build(seed=0)
    model.to(dtype=dtype)
    batch = VGG_BATCH[bk] if net == "vgg16" else (10 if args.quick else BATCH[net])
    X = numpy.random.default_rng(1).standard_normal((batch, *shape)).astype(dtype)
    use_zennit = args.zennit and (bk == "numpy" or _torch_cuda())
    torch_model = zb.to_torch(model, shape) if use_zennit else None
    if torch_model is not None and bk == "cupy":
        torch_model = torch_model.cuda()
    X_host = X
    if bk == "cupy":
        model.to("cupy")
        X = backend.to_backend(X, "cupy")
    sync = make_sync(bk)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else DEFAULT_REPEATS[net])
    xp = backend.get_namespace(X)

    t_fwd = median_seconds(lambda: model.forward(X), repeats, warmup=1, sync=sync)
    Y = model.forward(X)
    act, par = stored_bytes(model, X)
    target = xp.argmax(Y, axis=1)
    R0 = xp.zeros_like(Y)
    R0[xp.arange(batch), target] = 1  # init 'one' (zennit's convention), same for both libraries
    R0_host = backend.to_numpy(R0)

    rows = []
    for rule in rules:
        comp = zb.our_composite(rule, model)
        gc.collect()
        with peak_memory(bk) as mem:  # also the warm-up run
            R = model.lrp(R0, comp)
        R_host = backend.to_numpy(R)
        del R
        t_lrp = median_seconds(lambda comp=comp: model.lrp(R0, comp), repeats, warmup=0, sync=sync)
        t_z = ratio = diff = None
        if torch_model is not None:
            t_z, diff = run_zennit(torch_model, rule, X_host, R0_host, R_host, repeats, bk)
            ratio = (t_fwd + t_lrp) / t_z
        peak = mem["peak"]
        rows.append(
            f"| {net} | {bk} | {dtype} | {batch} | {rule} | {t_fwd * 1e3:.1f} | {t_lrp * 1e3:.1f} "
            f"| {t_lrp / t_fwd:.2f} | {peak / MB:.1f} | {act / MB:.1f} + {par / MB:.1f} "
            f"| {peak / (act + par):.2f} | {fmt(None if t_z is None else t_z * 1e3, '.1f')} "
            f"| {fmt(ratio, '.2f')} | {fmt(diff, '.1e')} |"
        )
        print(rows[-1], flush=True)
    return rows


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def run_zennit(
    torch_model: Any, rule: str, X: Any, R0: Any, ours: Any, repeats: int, bk: str
) -> tuple[float, float]:
    """zennit's median time (its forward included) and ``max|ours - zennit| / max|zennit|``."""
    import torch

    cuda = bk == "cupy"
    sync = torch.cuda.synchronize if cuda else None
    dtype = next(torch_model.parameters()).dtype
    device = next(torch_model.parameters()).device
    x = torch.from_numpy(zb.to_nchw(X)).to(device=device, dtype=dtype)
    r = torch.from_numpy(numpy.ascontiguousarray(R0)).to(device=device, dtype=dtype)
    from zennit.attribution import Gradient

    with Gradient(model=torch_model, composite=zb.zennit_composite(rule)) as attributor:
        result: dict[str, Any] = {}

        def call() -> None:
            result["R"] = attributor(x, r)[1]

        t = median_seconds(call, repeats, warmup=1, sync=sync)
    theirs = zb.to_nhwc(result["R"].detach().cpu().numpy())
    diff = float(numpy.abs(ours - theirs).max() / numpy.abs(theirs).max())
    return t, diff


# --------------------------------------------------------------------------------- main
def machine() -> str:
    """One line: date, CPU count, Python/NumPy/BLAS versions and the optional libraries."""
    blas = "?"
    with contextlib.suppress(Exception):
        info = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{info['name']} {info.get('version', '')}".strip()
    extra = []
    with contextlib.suppress(Exception):
        import torch

        tf32 = "on" if torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32 else "off"
        extra.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads, TF32 {tf32})")
    with contextlib.suppress(Exception):
        from importlib.metadata import version

        extra.append(f"zennit {version('zennit')}")
    cp = cupy_or_none()
    if cp is not None:
        name = cp.cuda.runtime.getDeviceProperties(0)["name"]
        extra.append(f"cupy {cp.__version__} on {name.decode() if isinstance(name, bytes) else name}")
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"Python {platform.python_version()}; NumPy {numpy.__version__} ({blas}, BLAS threads: {threads}); "
        + "; ".join(extra)
    )


HEADER = (
    "| network | backend | dtype | batch | rule | fwd ms | LRP ms | LRP/fwd | peak LRP MB "
    "| act + params MB | peak/(act+params) | zennit ms | ours/zennit | max rel diff |\n"
    "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=None)
    parser.add_argument("--backends", nargs="+", choices=["numpy", "cupy"], default=None)
    parser.add_argument("--dtypes", nargs="+", choices=["float64", "float32"], default=["float64", "float32"])
    parser.add_argument("--rules", nargs="+", choices=list(zb.RULES), default=list(zb.RULES))
    parser.add_argument(
        "--repeats", type=int_at_least(1), default=None, help="timed runs (default: 5; VGG-16: 1)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: MLP+LeNet-5, batch 10, 1 run")
    parser.add_argument("--no-zennit", dest="zennit", action="store_false", help="skip torch/zennit")
    parser.add_argument(
        "--zennit-tf32",
        action="store_true",
        help="let torch use TF32 for float32 convolutions and matmuls on the GPU (torch's default for\n"
        "cuDNN); by default both are off, so zennit computes in float32 as the toolbox does",
    )
    add_threads_argument(parser, "BLAS/OpenMP and torch threads")
    args = parser.parse_args(argv)
    if args.threads > 0:
        if os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
            print("# note: --threads reaches NumPy's BLAS only from the command line", file=sys.stderr)
        with contextlib.suppress(Exception):
            import torch

            torch.set_num_threads(args.threads)

    networks = args.networks or (["mlp", "lenet5"] if args.quick else list(NETWORKS))
    cupy = cupy_or_none()
    if args.backends is None:
        backends = ["numpy"] + (["cupy"] if cupy is not None else [])
    else:
        backends = args.backends
        if "cupy" in backends and cupy is None:
            print("error: --backends cupy needs CuPy and a CUDA GPU; none found", file=sys.stderr)
            return 2
    if args.zennit and not zennit_available():
        print("# torch/zennit not importable: zennit columns left empty", file=sys.stderr)
        args.zennit = False
    if args.zennit:
        import torch

        torch.backends.cudnn.allow_tf32 = args.zennit_tf32
        torch.backends.cuda.matmul.allow_tf32 = args.zennit_tf32

    print(f"# {machine()}")
    print(HEADER, flush=True)
    for net in networks:
        for bk in backends:
            for dtype in args.dtypes:
                bench_config(net, bk, dtype, args.rules, args)
                gc.collect()
                if bk == "cupy":
                    cupy.get_default_memory_pool().free_all_blocks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
