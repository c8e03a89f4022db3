#!/usr/bin/env bash
# The ablation of recipes/ablation-tiny.yaml on the embedded default (this Python's standard
# library and site-packages, the local Qwen2.5-Coder-0.5B-Instruct as judge and teacher), as
# run for examples/ablation/README.md. Interrupt it at any point and run it again: finished
# runs are skipped, the interrupted one resumes. Outputs go to runs/ablation/ (not
# committed); what the README quotes is copied here: ablation.json (every number),
# ablation.md (the table and the comparisons), early-signal.svg (the plot) and report.html.
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/ablation
E=examples/ablation

.venv/bin/phi1 ablate --recipe recipes/ablation-tiny.yaml --out $R

cp $R/ablation.json $R/ablation.md $R/early-signal.svg $R/report.html $E/
