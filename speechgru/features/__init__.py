"""The feature definition: PCM → MFCC frames.

Owns the maths (:mod:`.maths`: framing, the window, STFT power, the HTK mel filterbank,
log, the orthonormal DCT-II, as NumPy functions with the matrices they use), the
extraction used for training (:mod:`.librosa`, librosa's implementation checked against
the maths) and the same pipeline as TensorFlow ops for the exported graphs (:mod:`.tf`).
Augmentation and analysis call these; nothing else defines a feature step. May import
NumPy, librosa (in :mod:`.librosa` and :mod:`.maths`), TensorFlow (only in :mod:`.tf`),
:mod:`speechgru.config` and :mod:`speechgru.errors`.
"""
