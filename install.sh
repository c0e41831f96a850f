#!/usr/bin/env bash
# Set up lrp_toolbox in a virtual environment (.venv in the repository root).
#   bash install.sh            the toolbox and its run-time dependencies
#   bash install.sh --dev      also the test and lint tools (pytest, hypothesis, ruff, mypy)
#   bash install.sh --cuda12   also CuPy for CUDA 12 (--cuda13 for CUDA 13)
# Options can be combined. PYTHON=python3.12 bash install.sh picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")"
extras=()
for arg in "$@"; do
  case "$arg" in
    --dev) extras+=(test) ;;
    --cuda12) extras+=(cuda12) ;;
    --cuda13) extras+=(cuda13) ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
spec="."
if [ "${#extras[@]}" -gt 0 ]; then
  spec=".[$(IFS=,; echo "${extras[*]}")]"
fi
.venv/bin/python -m pip install --quiet -e "$spec"
echo "lrp_toolbox installed in $(pwd)/.venv"
