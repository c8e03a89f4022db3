"""Corpus stages: readers, annotation, embeddings, the quality classifier, filtering, dedup,
decontamination and packing."""
