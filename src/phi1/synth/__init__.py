"""Synthetic data: topics, prompt templates, textbooks, exercises and the resumable runner."""
