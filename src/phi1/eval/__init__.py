"""Evaluation: problems, the execution sandbox, pass@k, evaluation runs, graded evaluation."""
