"""Where the time of a CuPy LRP call goes: host versus device time, the band bound, host hot spots.

Run on a GPU machine (``benchmarks/run_gpu.sh`` runs it after the tests and benchmarks)::

    python benchmarks/profile_gpu.py [--chunks 4 64 256 1024] [--top 25]

Prints three parts:

1. For the MLP and LeNet-5 (batch 100) and VGG-16 (batch 16), float32 and float64: the host time
   and the device time (CUDA events) of ``forward`` and of the LRP calls ε, z+ and
   EpsilonPlusFlat (``cupyx.profiler.benchmark``, medians). Where the host time is about the device
   time, the call is bound by Python and kernel launches, not by the GPU.
2. VGG-16 float32: the same for several band bounds of the convolution's column buffer
   (``conv_columns.GPU_CHUNK_BYTES``, in MiB), and at the default bound with the convolution's
   adjoint as slice-adds instead of the gather kernel (``conv_columns_cuda``).
3. The functions with the most host time (``cProfile``) in LeNet-5 ε and VGG-16 EpsilonPlusFlat.
4. VGG-16's 3x3 convolutions at batch 16 piece by piece (device ms): the whole ``affine``, the
   copy to the column layout (``to_chwn``), the receptive-field copies, the GEMMs, the transposes
   back to NHWC; and, for comparison, an NHWC column layout (``(N*rows*Wo, h*w*d) @ (h*w*d, n)``,
   no transposes) with its own copies and GEMMs.
5. VGG-16 float32 layer by layer: the device ms of each layer's rule in z+ and EpsilonPlusFlat.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path
from typing import Any

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent))

import networks
import zennit_bridge as zb

from lrp_toolbox import backend
from lrp_toolbox.modules import conv_columns, conv_columns_cuda

BUILD = {"mlp": networks.mnist_mlp, "lenet5": networks.lenet5, "vgg16": networks.vgg16}
BATCH = {"mlp": 100, "lenet5": 100, "vgg16": 16}
RULES = ("epsilon", "zplus", "epsilon_plus_flat")


def setup(net: str, dtype: str) -> tuple[Any, Any, Any]:
    """Model on the GPU, input batch and initial relevance (1 at the predicted class)."""
    import cupy

    model, shape = BUILD[net](seed=0)
    model.to("cupy", dtype=dtype)
    X = cupy.asarray(numpy.random.default_rng(1).standard_normal((BATCH[net], *shape)).astype(dtype))
    Y = model.forward(X)
    R0 = cupy.zeros_like(Y)
    R0[cupy.arange(len(Y)), cupy.argmax(Y, axis=1)] = 1
    return model, X, R0


def times(fn: Any, repeat: int) -> str:
    """``host ms / device ms`` medians of ``fn()``."""
    from cupyx.profiler import benchmark

    res = benchmark(fn, n_repeat=repeat, n_warmup=2)
    return f"{numpy.median(res.cpu_times) * 1e3:8.2f} / {numpy.median(res.gpu_times[0]) * 1e3:8.2f}"


def cells(model: Any, X: Any, R0: Any, rules: tuple[str, ...], repeat: int) -> str:
    """Table cells: forward, then one LRP call per rule."""
    out = [times(lambda: model.forward(X), repeat)]
    for rule in rules:
        comp = zb.our_composite(rule, model)
        out.append(times(lambda comp=comp: model.lrp(R0, comp), repeat))
    return " | ".join(out)


def part_calls(repeat: int) -> None:
    print("## host ms / device ms per call (medians)")
    print("| network | dtype | forward | " + " | ".join(RULES) + " |")
    print("|---|---|---:|" + "---:|" * len(RULES))
    for net in BUILD:
        for dtype in ("float32", "float64"):
            print(f"| {net} | {dtype} | {cells(*setup(net, dtype), RULES, repeat)} |", flush=True)


def part_chunks(chunks: list[int], repeat: int) -> None:
    print("\n## VGG-16 float32 batch 16 by band bound: host ms / device ms")
    print("| MiB | forward | epsilon | epsilon_plus_flat |")
    print("|---:|---:|---:|---:|")
    model, X, R0 = setup("vgg16", "float32")
    default, kernel = conv_columns.GPU_CHUNK_BYTES, conv_columns_cuda.add_columns
    rules = ("epsilon", "epsilon_plus_flat")
    try:
        for mib in chunks:
            conv_columns.GPU_CHUNK_BYTES = mib * 2**20
            print(f"| {mib} | {cells(model, X, R0, rules, repeat)} |", flush=True)
        conv_columns.GPU_CHUNK_BYTES = default
        conv_columns_cuda.add_columns = conv_columns.add_columns_sliced
        print(f"| {default // 2**20}, slice-adds | {cells(model, X, R0, rules, repeat)} |", flush=True)
    finally:
        conv_columns.GPU_CHUNK_BYTES, conv_columns_cuda.add_columns = default, kernel


def part_profile(top: int) -> None:
    import cupy

    for net, rule, calls in (("lenet5", "epsilon", 20), ("vgg16", "epsilon_plus_flat", 3)):
        model, _, R0 = setup(net, "float32")
        comp = zb.our_composite(rule, model)
        model.lrp(R0, comp)
        cupy.cuda.Device().synchronize()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            model.lrp(R0, comp)
        cupy.cuda.Device().synchronize()
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
        print(f"\n## cProfile: {net} float32 {rule}, {calls} calls, by host time")
        print(out.getvalue().split("\n", 4)[-1])


VGG_CONVS = ((224, 64, 64), (112, 128, 128), (56, 256, 256), (28, 512, 512), (14, 512, 512))
"""(input side, input channels, output channels) of VGG-16's 3x3 convolutions after the first."""


def device_ms(fn: Any, repeat: int) -> float:
    from cupyx.profiler import benchmark

    return float(numpy.median(benchmark(fn, n_repeat=repeat, n_warmup=2).gpu_times[0]) * 1e3)


def layer_pieces(H: int, d: int, n: int, dtype: str, repeat: int) -> tuple[int, list[float]]:
    """Number of bands and the device ms of each piece of one padded 3x3 convolution, batch 16."""
    import cupy
    from cupy.lib.stride_tricks import as_strided

    from lrp_toolbox.modules import Convolution

    N, K, pad = 16, 9 * d, ((1, 1), (1, 1))
    layer = Convolution((3, 3, d, n), (1, 1), padding=1).to("cupy", dtype=dtype)
    W = layer.W
    x = cupy.random.standard_normal((N, H, H, d), dtype=dtype)
    xc = conv_columns.to_chwn([x], pad)
    bands = list(conv_columns.row_bands(H, K * H * N * x.itemsize, conv_columns.GPU_CHUNK_BYTES))
    rows = bands[0][1] - bands[0][0]
    cols = conv_columns.columns(xc, (3, 3), (1, 1), (1, 1), bands[0], H)
    zT = W.reshape(K, n).T @ cols
    out = cupy.empty((N, H, H, n), dtype=dtype)
    xpad = cupy.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    sN, sH, sW, sC = xpad.strides

    def nhwc_columns(band: tuple[int, int]) -> Any:  # (N*rows*W, 9*d), runs of d values
        view = as_strided(xpad[:, band[0] :], (N, band[1] - band[0], H, 3, 3, d), (sN, sH, sW, sH, sW, sC))
        return cupy.ascontiguousarray(view).reshape(-1, K)

    def nhwc_affine() -> Any:
        o = cupy.empty((N, H, H, n), dtype=dtype)
        for band in bands:
            o[:, band[0] : band[1]] = (nhwc_columns(band) @ W.reshape(K, n)).reshape(N, -1, H, n)
        return o

    def to_nhwc() -> None:
        conv_columns.swap_outer(zT.reshape(n, rows, H, N), out[:, :rows])

    ref = layer.affine(x, W)
    err = float(cupy.abs(nhwc_affine() - ref).max() / cupy.abs(ref).max())
    assert err < (1e-5 if dtype == "float32" else 1e-12), f"NHWC columns disagree: {err:.1e}"
    colsT = nhwc_columns(bands[0])
    nb = len(bands)
    return nb, [
        device_ms(lambda: layer.affine(x, W), repeat),
        device_ms(lambda: conv_columns.to_chwn([x], pad), repeat),
        device_ms(lambda: [conv_columns.columns(xc, (3, 3), (1, 1), (1, 1), b, H) for b in bands], repeat),
        device_ms(lambda: W.reshape(K, n).T @ cols, repeat) * nb,
        device_ms(to_nhwc, repeat) * nb,
        device_ms(lambda: [nhwc_columns(b) for b in bands], repeat),
        device_ms(lambda: colsT @ W.reshape(K, n), repeat) * nb,
        device_ms(nhwc_affine, repeat),
    ]


def part_layers(repeat: int) -> None:
    import cupy

    print("\n## VGG-16 3x3 convolutions, batch 16, piece by piece: device ms")
    print("| input -> n | dtype | bands | affine | to_chwn | columns | GEMMs | to NHWC ", end="")
    print("| NHWC: columns | GEMMs | affine |\n|---|---|" + "---:|" * 9)
    for dtype in ("float32", "float64"):
        for H, d, n in VGG_CONVS:
            nb, cells = layer_pieces(H, d, n, dtype, repeat)
            print(f"| {H}x{H}x{d} -> {n} | {dtype} | {nb} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
            cupy.get_default_memory_pool().free_all_blocks()


def part_layer_rules(repeat: int) -> None:
    print("\n## VGG-16 float32 batch 16, LRP layer by layer: device ms")
    model, _, R0 = setup("vgg16", "float32")
    forward = [device_ms(lambda m=m: m.forward(m.cache.x), repeat) for m in model.modules]
    table = {"forward": forward}
    for rule in ("zplus", "epsilon_plus_flat"):
        rules = zb.our_composite(rule, model).resolve(model).rules
        R, column = R0, []
        for layer, layer_rule in zip(reversed(model.modules), reversed(rules), strict=True):

            def call(layer: Any = layer, layer_rule: Any = layer_rule, R: Any = R) -> Any:
                with layer.cache.call_scope():
                    return layer_rule.propagate(layer, R, None)

            column.append(device_ms(call, repeat))
            R = call()
        table[rule] = column[::-1]
    print("| index | layer | forward | zplus | epsilon_plus_flat |\n|---:|---|---:|---:|---:|")
    for i, layer in enumerate(model.modules):
        print(f"| {i} | {layer!r} | " + " | ".join(f"{column[i]:.2f}" for column in table.values()) + " |")
    print("| | sum | " + " | ".join(f"{sum(column):.2f}" for column in table.values()) + " |")


def main(argv: list[str] | None = None) -> int:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--chunks", type=int, nargs="*", default=[4, 64, 256, 1024], help="bounds in MiB")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per cell")
    args = parser.parse_args(argv)
    try:
        backend.namespace("cupy")
    except Exception as exc:
        print(f"profile_gpu.py needs CuPy and a CUDA GPU: {exc}", file=sys.stderr)
        return 2
    part_calls(args.repeat)
    part_chunks(args.chunks, max(3, args.repeat // 2))
    part_profile(args.top)
    part_layers(args.repeat)
    part_layer_rules(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
