"""Recommenders (floor 4), one concern per module:

- :mod:`~omnivec.recs.recommender`: the Recommender (fit, partial_fit, recommend, similar_*)
  and ``LAYER``, the ``omnivec.recommenders`` entry point (opens and drops recommenders);
- :mod:`~omnivec.recs.opening`: opening / creating its catalog record, model and collections;
- :mod:`~omnivec.recs.collection`: the collections it owns (writes drop the snapshot);
- :mod:`~omnivec.recs.commit`: the undo log behind compute-then-commit (``write_fit``,
  ``write_users``);
- :mod:`~omnivec.recs.seen`: seen histories, apart from the user rows (``<name>__seen``);
- :mod:`~omnivec.recs.snapshot`: the in-memory snapshot and the ranking kernels;
- :mod:`~omnivec.recs.interactions`: parsing fold-in histories and per-id metadata (the
  interaction matrix itself is :mod:`omnivec.core.interactions`, with the ``FactorModel``
  protocol ALS and BPR implement);
- :mod:`~omnivec.recs.evaluation`: offline splits, metrics and baselines.

Nothing is imported here, so that ``import omnivec`` stays light.
"""
