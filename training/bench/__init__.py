"""The offline benchmarks: the ``training bench-*`` commands and the build-time engines of ``assistant bench``.

Kept apart from the stages they measure (corpus, label, distill, export), one module per benchmark, so the
folder listing shows what builds a student and what only measures one.
"""
