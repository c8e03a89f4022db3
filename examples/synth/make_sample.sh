#!/usr/bin/env bash
# The sample under examples/synth/: 30 textbook sections and 50 exercises asked from the default
# teacher (Qwen2.5-Coder-0.5B-Instruct, llama.cpp on CPU), each with its diversity report.
# Resumable: run it again after an interruption and finished records are kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
PHI1=${PHI1:-.venv/bin/phi1}
$PHI1 synth textbooks --out examples/synth/textbooks --textbook.n 30 --runner.flush_every 1
$PHI1 synth stats examples/synth/textbooks
$PHI1 synth exercises --out examples/synth/exercises --exercise.n 50 --runner.flush_every 1
$PHI1 synth stats examples/synth/exercises
# the same 50 exercises without required doctest examples (as recipes/tiny.yaml keeps them)
$PHI1 synth exercises --out examples/synth/exercises-lenient --exercise.n 50 \
    --exercise.require_examples false --runner.flush_every 1
$PHI1 synth stats examples/synth/exercises-lenient
