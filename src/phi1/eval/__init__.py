"""Evaluation: benchmark samples from any model, pass@k, the LLM-graded evaluation."""
