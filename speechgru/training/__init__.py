"""Training: from datasets to a run directory holding the chosen model.

Owns the run directory (:mod:`.run_dir`: config, labels, the saved splits, checkpoints,
state, history, calibration features; the one reader and writer of those files), the fit
loop with resume (:mod:`.train`), feature-domain augmentation (:mod:`.augment`), the
metrics (:mod:`.evaluate`) and multi-worker training (:mod:`.distribute`). May import
:mod:`speechgru.data`, :mod:`speechgru.features`, :mod:`speechgru.models`,
:mod:`speechgru.synth`, :mod:`speechgru.plots`, TensorFlow and Keras; never export or the
runtime.
"""
