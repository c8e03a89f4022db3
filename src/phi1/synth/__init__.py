"""Synthetic data: topics, function names, textbooks, exercises and their checks and stats."""
