"""Text machinery below the stages: hashing and near-duplicate detection.

Two stages need the same duplicate finder (``phi1 dedup`` over a corpus, ``phi1 synth`` over
its generated sections), and an embedder needs the same hash finaliser; stages never import
each other, so it lives here, in the foundations (:mod:`phi1.text.minhash`).
"""
