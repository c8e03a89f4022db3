#!/usr/bin/env bash
# The sample under examples/synth/: textbook sections and exercises asked from the default
# teacher (Qwen2.5-Coder-0.5B-Instruct, llama.cpp on CPU) with the default settings, each with
# its diversity report. Resumable: run it again after an interruption and finished records
# are kept; a larger --*.n extends the same run (the first N jobs never change).
set -euo pipefail
cd "$(dirname "$0")/../.."
PHI1=${PHI1:-.venv/bin/phi1}
$PHI1 synth textbooks --out examples/synth/textbooks --textbook.n 18 --runner.flush_every 1
$PHI1 synth stats examples/synth/textbooks
$PHI1 synth exercises --out examples/synth/exercises --exercise.n 30 --runner.flush_every 1
$PHI1 synth stats examples/synth/exercises
