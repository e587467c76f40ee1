"""Training: from datasets to a run directory holding the chosen model.

Owns the fit loop with resume (:mod:`.train`), the epoch's data and its sampling
(:mod:`.data`, :mod:`.sampling`), feature-domain augmentation (:mod:`.augment`),
distillation (:mod:`.teacher`), a base's weights (:mod:`.base`), a word of one's own
(:mod:`.own_word`), ensembles (:mod:`.ensemble`), hard negatives (:mod:`.hard_negatives`),
the operating point (:mod:`.operating_point`) and multi-worker training
(:mod:`.distribute`). It writes the run directory through :class:`speechgru.run_dir.RunDir`
and scores with :mod:`speechgru.metrics`, both a room below. It is the highest room but
the command line's: it may import every stage below it (data, features, models, synth,
the runtime, export and the room benchmarks, which the live operating point and mining
run), TensorFlow and Keras; nothing below imports it (``tests/test_layout.py``).
"""
