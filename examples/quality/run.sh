#!/usr/bin/env bash
# The quality filter on the embedded default corpus (this Python's standard library and
# installed site-packages), as run for examples/quality/README.md. Each step resumes if
# interrupted; outputs go to runs/quality/ (not committed); what the README quotes is
# copied into examples/quality/ (dedup.json, annotate.json, classifier.txt, filter.txt,
# filter-summary.json, report.md, bench_filter.txt, judge_sanity.txt).
#
#   examples/quality/run.sh          # all steps
#   examples/quality/run.sh 3 4 5 6  # only these steps (e.g. after the annotation is done)
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/quality
E=examples/quality
STEPS="${*:-1 2 3 4 5 6}"
step() { [[ " $STEPS " == *" $1 "* ]]; }

# 1. Exact + MinHash near-duplicate removal over stdlib + site-packages.
if step 1; then
    .venv/bin/phi1 dedup --out $R/dedup
fi

# 2. 330 documents, stratified by source, judged by the default local LLM
#    (Qwen2.5-Coder-0.5B-Instruct through llama.cpp; --annotate.method auto = logprob for it).
if step 2; then
    PHI1_LLAMA_THREADS=1 .venv/bin/phi1 annotate --out $R/annotations --annotate.n 330 \
        --annotate.max_chars 1500
fi

# 3. Random forest on MiniLM embeddings of each file's first 256-token window. The 0.5B
#    judge calls almost everything "high", so its P(high) ranks: the top half is "high".
if step 3; then
    .venv/bin/phi1 classifier train $R/annotations --out $R/classifier \
        --classifier.max_chunks 1 --classifier.label_rule top:0.5 | tee $E/classifier.txt
fi

# 4. Score the deduplicated corpus and keep the top 20% of files (the paper kept ~17% of
#    its tokens: 6B of 35B). Writes kept/, rejects/, summary.json and report.md (the
#    highest- and lowest-scored files). The embedding cache is reused by a rerun with
#    another classifier on the same embedder.
if step 4; then
    .venv/bin/phi1 filter --inputs $R/dedup/kept.jsonl --classifier $R/classifier \
        --out $R/filtered --filter.tasks 8 --filter.top_fraction 0.2 \
        --filter.embed_cache $R/embed_cache \
        | tee $E/filter.txt
fi

# 5. The sanity-set figure and the scoring speed.
if step 5; then
    .venv/bin/python benchmarks/bench_filter.py --classifier $R/classifier --limit 200 \
        --sanity | tee $E/bench_filter.txt
    # the judge's own P(high) on the sanity set: whose error is it, the judge's or the forest's?
    PHI1_LLAMA_THREADS=2 .venv/bin/python benchmarks/bench_filter.py --classifier $R/classifier \
        --no-speed --judge qwen2.5-coder-0.5b-instruct | tee $E/judge_sanity.txt
fi

# 6. Copy what the README quotes.
if step 6; then
    cp $R/dedup/summary.json $E/dedup.json
    cp $R/annotations/annotate.json $E/annotate.json
    cp $R/filtered/summary.json $E/filter-summary.json
    cp $R/filtered/report.md $E/report.md
fi
