"""Corpus stages: readers, the corpus copy, annotation, the quality classifier, filtering,
dedup, decontamination and packing."""
