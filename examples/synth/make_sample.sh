#!/usr/bin/env bash
# The sample under examples/synth/: textbook sections and exercises asked with the default
# settings and models (textbooks: Qwen2.5-Coder-0.5B-Instruct; exercises: Qwen2.5-Coder-1.5B-
# Instruct as teacher and solver; llama.cpp on CPU), each with its diversity report.
# Resumable: run it again after an interruption and finished records are kept; a larger --*.n
# extends the same run (the first N jobs never change). A re-run with the same settings asks
# nothing and checks the exercises again.
set -euo pipefail
cd "$(dirname "$0")/../.."
PHI1=${PHI1:-.venv/bin/phi1}
$PHI1 synth textbooks --out examples/synth/textbooks --textbook.n 18 --runner.flush_every 1
$PHI1 synth stats examples/synth/textbooks
$PHI1 synth exercises --out examples/synth/exercises --exercise.n 80 --runner.flush_every 1
$PHI1 synth stats examples/synth/exercises
# The defaults of session 11 under topic-prompt/ (TOPIC=1): a topic beside the name in the
# prompt, the 0.5B teacher as solver, 3 of 5; hand-checked by two readers
OLD="--exercise.templates examples/synth/topic-prompt/templates.yaml --llm.model qwen2.5-coder-0.5b-instruct --solver.model qwen2.5-coder-0.5b-instruct --exercise.agree 3"
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
    $OLD --exercise.names combinatorial --exercise.solver_sees_examples true --exercise.agree 2 \
    --runner.flush_every 1
fi
# The 1.5B study under teacher-1.5b/ (STUDY=1; about 80 minutes on 2 cores): teacher and solver
# Qwen2.5-Coder-1.5B-Instruct, the study's prompt, the first defaults; hand-checked by two readers
if [ "${STUDY:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/teacher-1.5b --exercise.n 144 \
    --llm.model qwen2.5-coder-1.5b-instruct --exercise.names combinatorial \
    --exercise.solver_sees_examples true --exercise.agree 2 \
    --exercise.templates examples/synth/teacher-1.5b/templates.yaml --runner.flush_every 1
fi
# The 0.5B model as teacher (the 1.5B as solver) under teacher-0.5b/, kept at 3 of 5: the
# defaults of session 12 (TEACHER05=1; about 31 minutes on 2 cores); hand-checked by two readers
if [ "${TEACHER05:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/teacher-0.5b --exercise.n 80 \
    --llm.model qwen2.5-coder-0.5b-instruct --exercise.agree 3 --runner.flush_every 1
fi
# The defaults on 40 other names (exercise.seed 1) under seed-1/, and the 0.5B teacher on them
# under seed-1-teacher-0.5b/ (SEED1=1; about 31 minutes on 2 cores): an out-of-sample check of
# the hand-checked shares; each read by two readers
if [ "${SEED1:-0}" = 1 ]; then
  $PHI1 synth exercises --out examples/synth/seed-1 --exercise.n 40 --exercise.seed 1 \
    --runner.flush_every 1
  $PHI1 synth stats examples/synth/seed-1
  # the same 40 names with the 0.5B teacher at 3 of 5 (session 12's defaults), read the same way
  $PHI1 synth exercises --out examples/synth/seed-1-teacher-0.5b --exercise.n 40 \
    --exercise.seed 1 --llm.model qwen2.5-coder-0.5b-instruct --exercise.agree 3 \
    --runner.flush_every 1
  $PHI1 synth stats examples/synth/seed-1-teacher-0.5b
fi
