"""Decontamination against a benchmark (the paper's section 5), one module per job.

- :mod:`phi1.data.decontam.run`: ``phi1 decontam run``: scores, pruned copies, report;
- :mod:`phi1.data.decontam.features`: normalisation, n-grams, normalized syntax trees;
- :mod:`phi1.data.decontam.score`: n-gram, embedding and AST scores against the problems;
- :mod:`phi1.data.decontam.table`: the paper's Table 3 from a run and evaluation results;
- :mod:`phi1.data.decontam.steps`: the same scoring as a datatrove filter for clusters.
"""
