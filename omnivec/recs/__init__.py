"""Recommenders (floor 4): :mod:`~omnivec.recs.recommender` (the Recommender, its fit and
queries), :mod:`~omnivec.recs.snapshot` (the in-memory snapshot and ranking kernels),
:mod:`~omnivec.recs.seen` (seen histories, apart from the user rows),
:mod:`~omnivec.recs.interactions` (parsing user input), :mod:`~omnivec.recs.rewrite` (the undo
log behind compute-then-commit) and :mod:`~omnivec.recs.evaluation` (offline metrics).

Nothing is imported here, so that ``import omnivec`` stays light.
"""
