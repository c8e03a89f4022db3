#!/usr/bin/env bash
# The quality filter on the embedded default corpus (this Python's standard library and
# installed site-packages), as run for examples/quality/README.md. Each step resumes if
# interrupted; outputs go to runs/quality/ (not committed); what the README quotes is
# copied into examples/quality/ (the label set, the classifier, filter-summary.json,
# report.md, bench_filter.txt).
#
#   examples/quality/run.sh          # all steps
#   examples/quality/run.sh 3 4 5 6  # only these steps (e.g. after the annotation is done)
set -euo pipefail
cd "$(dirname "$0")/../.."
R=runs/quality
E=examples/quality
PY=.venv/bin/python
STEPS="${*:-1 2 3 4 5 6 7}"
step() { [[ " $STEPS " == *" $1 "* ]]; }

# 1. Exact + MinHash near-duplicate removal over stdlib + site-packages.
if step 1; then
    .venv/bin/phi1 dedup --out $R/dedup
fi

# 2. 1,000 files, stratified by source, judged by Qwen2.5-Coder-1.5B-Instruct by P(high) on
#    each file's view (leading banners skipped, first 1,000 characters); asked in sample-key
#    order, so a run stopped early is still a stratified sample. Then the label set.
if step 2; then
    .venv/bin/phi1 annotate --out $R/ann15 --annotate.n 1000 --annotate.max_chars 1000 \
        --annotate.template educational_value_rubric --annotate.method logprob \
        --llm.model qwen2.5-coder-1.5b-instruct
    $PY -c "from phi1.data.annotate import export_label_set as e; \
print(e('$R/ann15', '$E/labels-qwen2.5-coder-1.5b.jsonl'))"
fi

# 3. The table: embedder x model, ROC-AUC against the judge on random and package-grouped
#    folds, and on the sanity set (embeddings cached under $R/t1000; the code LLM's two
#    poolings from one pass, ~1 file/s on 2 cores).
if step 3; then
    $PY $E/precompute.py $R/ann15 --out $R/t1000 --embedders qwen2.5-coder-0.5b-instruct \
        --poolings mean last --max-chars 1000 --models forest logistic
    $PY $E/precompute.py $R/ann15 --out $R/t1000 --embedders hash code hash+code \
        --models forest logistic
    $PY $E/precompute.py $R/ann15 --out $R/t1000 \
        --embedders qwen2.5-coder-0.5b-instruct@last+code --models logistic forest
    $PY $E/precompute.py $R/ann15 --out $R/t1000 --labelled-only --models forest logistic \
        --embedders qwen2.5-coder-0.5b-instruct@ask qwen2.5-coder-0.5b-instruct@ask+code
    $PY $E/grouped_cv.py $R/ann15 --cache $R/t1000 --embedders \
        qwen2.5-coder-0.5b-instruct@last qwen2.5-coder-0.5b-instruct hash+code hash code \
        qwen2.5-coder-0.5b-instruct@last+code qwen2.5-coder-0.5b-instruct@ask \
        qwen2.5-coder-0.5b-instruct@ask+code
fi

# 4. The default classifier (the table's best row; ClassifierSettings' defaults).
if step 4; then
    mkdir -p $E/classifier  # the step-3 embeddings of the 1,000 files: no second pass
    cp $R/t1000/qwen2.5-coder-0.5b-instruct@ask-logistic/embeddings.npz $E/classifier/
    .venv/bin/phi1 classifier train $E/labels-qwen2.5-coder-1.5b.jsonl --out $E/classifier
    rm -f $E/classifier/embeddings.npz
fi

# 5. Score and keep the top 20%: a seeded sample of 1,200 deduplicated files outside the
#    label set (the whole 16,777 at 0.4 files/s would take 12 hours on 2 cores; FULL=1 runs
#    it, one datatrove task per 2 cores).
if step 5; then
    if [[ -n "${FULL:-}" ]]; then
        INPUTS=$R/dedup/kept.jsonl
    else
        INPUTS=$R/subset1200.jsonl
        $PY - "$R" "$E" <<'PY'
import json, random, sys
runs, ex = sys.argv[1], sys.argv[2]
labelled = {json.loads(line)["id"] for line in open(f"{ex}/labels-qwen2.5-coder-1.5b.jsonl")}
pool = [line for line in open(f"{runs}/dedup/kept.jsonl") if json.loads(line)["id"] not in labelled]
random.Random(16).shuffle(pool)
open(f"{runs}/subset1200.jsonl", "w").writelines(pool[:1200])
PY
    fi
    .venv/bin/phi1 filter --inputs jsonl:$INPUTS --classifier $E/classifier \
        --out $R/filtered-ask --filter.tasks 1 --filter.top_fraction 0.2 \
        --filter.embed_cache $R/embed_cache
    cp $R/filtered-ask/summary.json $E/filter-summary.json
    cp $R/filtered-ask/report.md $E/report.md
fi

# 6. The sanity-set figure and the scoring speed; the judge's own sanity figure.
if step 6; then
    $PY benchmarks/bench_filter.py --classifier $E/classifier --limit 100 --sanity \
        | tee $E/bench_filter.txt
    $PY benchmarks/bench_filter.py --no-speed --judge qwen2.5-coder-1.5b-instruct \
        --judge-template educational_value_rubric --judge-chars 1000 | tee $E/judge_sanity.txt
fi

# 7. A second set of real files: turtle demos against generated stubs and tables.
if step 7; then
    $PY $E/second_set.py --classifier $E/classifier --judge qwen2.5-coder-1.5b-instruct \
        | tee $E/second_set.txt
fi
