#!/usr/bin/env bash
# GPU checks in one go: the GPU tests (pytest -m gpu), the CuPy benchmark rows, the profile
# (host versus device time, band bounds, host hot spots: benchmarks/profile_gpu.py), then the banded
# convolution pass forced on CuPy against the unfused path (benchmarks/bench_fused.py).
#
# Usage: benchmarks/run_gpu.sh [OUTDIR]
#   Run from anywhere; it works in the repository root. Output goes to stdout and, when OUTDIR is
#   given, also to OUTDIR/gpu_tests.txt, OUTDIR/bench_gpu.md, OUTDIR/profile_gpu.txt,
#   OUTDIR/bench_fused_gpu.md and OUTDIR/env.txt.
#   PYTHON selects the interpreter (default: .venv/bin/python if present, else python3).
#   BENCH_ARGS adds options to bench_lrp.py (e.g. BENCH_ARGS="--no-zennit --repeats 3").
# Exits non-zero with a clear message when CuPy or a CUDA GPU is missing, or when a step fails
# (the benchmark still runs after failed tests; the exit status reports the failure).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
OUTDIR="${1:-}"
if [[ -n "$OUTDIR" ]]; then mkdir -p "$OUTDIR"; fi

# 1. CuPy and a GPU, or stop here.
if ! "$PYTHON" -c 'import cupy; n = cupy.cuda.runtime.getDeviceCount(); assert n > 0, "no CUDA device"' \
    >/dev/null 2>&1; then
    echo "run_gpu.sh: CuPy with a CUDA GPU is required, but this check failed:" >&2
    "$PYTHON" -c 'import cupy; print("devices:", cupy.cuda.runtime.getDeviceCount())' >&2 || true
    echo "Install a CuPy wheel matching the CUDA driver (e.g. pip install cupy-cuda12x) on a GPU machine." >&2
    exit 2
fi

# tee to OUTDIR/$1 when an output folder is given
save() {
    if [[ -n "$OUTDIR" ]]; then tee "$OUTDIR/$1"; else cat; fi
}

{
    echo "# date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown) (stale where the tree was copied without .git)"
    # the sources actually run: compare with the same command in a checkout
    echo "# lrp_toolbox sources sha256: $(find lrp_toolbox -name '*.py' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)"
    "$PYTHON" - <<'EOF'
import platform, numpy, cupy
props = cupy.cuda.runtime.getDeviceProperties(0)
name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
print(f"# python {platform.python_version()}, numpy {numpy.__version__}, cupy {cupy.__version__}")
print(f"# GPU 0: {name}, {props['totalGlobalMem'] / 2**30:.1f} GiB, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
EOF
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/# /'
    fi
} | save env.txt

status=0

# run_step LABEL FILE COMMAND...: echo the command, run it, keep its output in FILE; a failure is
# reported and remembered, and the later steps still run
run_step() {
    local label=$1 file=$2
    shift 2
    echo "== ${*/#$PYTHON/python}"
    set +e
    "$@" 2>&1 | save "$file"
    local step_status=${PIPESTATUS[0]}
    set -e
    if [[ $step_status -ne 0 ]]; then
        echo "run_gpu.sh: $label FAILED (exit status $step_status)" >&2
        status=1
    fi
}

# 2. GPU tests (parity of CuPy and NumPy results).
run_step "GPU tests" gpu_tests.txt "$PYTHON" -m pytest -m gpu tests/ -p no:cacheprovider

# 3. CuPy benchmark rows (float64 and float32; VGG-16 at batch 16).
# shellcheck disable=SC2086  # BENCH_ARGS is meant to split into options
run_step benchmark bench_gpu.md "$PYTHON" benchmarks/bench_lrp.py --backends cupy ${BENCH_ARGS:-}

# 4. Where the time goes.
run_step profile profile_gpu.txt "$PYTHON" benchmarks/profile_gpu.py

# 5. The banded convolution pass forced on CuPy against the unfused path (NumPy-only so far).
run_step "banded pass" bench_fused_gpu.md "$PYTHON" benchmarks/bench_fused.py --backend cupy

if [[ $status -eq 0 ]]; then echo "run_gpu.sh: done"; fi
exit "$status"
