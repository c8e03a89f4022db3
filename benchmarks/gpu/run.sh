#!/usr/bin/env bash
# GPU training throughput of phi-1-small and phi-1 in bf16 (tokens/s, MFU, peak memory), 20
# steps each with their recipes' settings; one GPU, or FSDP2 over all of them; prints a table
# for BENCHMARKS.md (see bench_gpu.py). From any directory:
#   benchmarks/gpu/run.sh             # a machine with CUDA GPUs: under 10 minutes
#   benchmarks/gpu/run.sh --dry-run   # any CPU: the debug preset, the table's shape
# PYTHON picks the interpreter (default: the repository's .venv, else python3).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" "$repo/benchmarks/gpu/bench_gpu.py" "$@"
