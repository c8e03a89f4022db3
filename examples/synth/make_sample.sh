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
$PHI1 synth exercises --out examples/synth/exercises --exercise.n 80 --runner.flush_every 1
$PHI1 synth stats examples/synth/exercises
# The previous defaults (session 11) under topic-prompt/ (TOPIC=1): a topic beside the name in
# the prompt, the teacher as solver; hand-checked by two readers
OLD="--exercise.templates examples/synth/topic-prompt/templates.yaml --solver.model qwen2.5-coder-0.5b-instruct"
if [ "${TOPIC:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/topic-prompt/exercises --exercise.n 80 $OLD \
    --runner.flush_every 1
fi
# Those statements with 7 candidates under candidates-7/ (K7=1; a copy of the statements, so
# only the candidates and inputs are asked)
if [ "${K7:-0}" = 1 ]; then
  if [ ! -d examples/synth/candidates-7/statements ]; then
    mkdir -p examples/synth/candidates-7
    cp -r examples/synth/topic-prompt/exercises/statements examples/synth/candidates-7/
  fi
  $PHI1 synth exercises --out examples/synth/candidates-7 --exercise.n 80 --exercise.candidates 7 \
    $OLD --runner.flush_every 1
fi
# The first defaults' sample under first-defaults/ (FIRST=1): the combinatorial names, candidates
# shown the teacher's examples, kept at 2 of 5; hand-checked by two readers
if [ "${FIRST:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/first-defaults/exercises --exercise.n 30 \
    --exercise.names combinatorial --exercise.solver_sees_examples true --exercise.agree 2 \
    $OLD --runner.flush_every 1
fi
# The 1.5B study under teacher-1.5b/ (STUDY=1; about 80 minutes on 2 cores): teacher and solver
# Qwen2.5-Coder-1.5B-Instruct, the study's prompt, the first defaults; hand-checked by two readers
if [ "${STUDY:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/teacher-1.5b --exercise.n 144 \
    --llm.model qwen2.5-coder-1.5b-instruct --exercise.names combinatorial \
    --exercise.solver_sees_examples true --exercise.agree 2 \
    --exercise.templates examples/synth/teacher-1.5b/templates.yaml --runner.flush_every 1
fi
# The 1.5B model as teacher (and solver) with today's prompt and settings, under
# teacher-1.5b-plain/ (TEACHER15=1; about 36 minutes on 2 cores); hand-checked by two readers
if [ "${TEACHER15:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/teacher-1.5b-plain --exercise.n 80 \
    --llm.model qwen2.5-coder-1.5b-instruct --runner.flush_every 1
fi
