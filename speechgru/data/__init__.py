"""Datasets: folders of audio → labelled clips with speakers and splits, and their
cached features.

Owns the layouts (:mod:`.layouts`: Speech Commands, its 12-label test archive, flat
``label_speaker_index`` folders; labels, speaker-disjoint hash splits, ``check-data``) and
the feature cache (:mod:`.cache`: MFCC per clip computed once in worker processes, kept
as ``.npy``, healed when damaged) and the download of the official archives
(:mod:`.download`: resumable, checked, safely extracted) and of one's own voice
(:mod:`.record`: prompted takes from the microphone, trimmed and checked). May import :mod:`speechgru.audio`,
:mod:`speechgru.features`, :mod:`speechgru.config`, :mod:`speechgru.errors`,
:mod:`speechgru.utils`; no TensorFlow.
"""

from .cache import Features, FeatureCache, extract_features
from .layouts import BACKGROUND, SPLITS, Clip, Dataset, check_dataset, hash_split, scan_dataset

__all__ = ["BACKGROUND", "SPLITS", "Clip", "Dataset", "FeatureCache", "Features",
           "check_dataset", "extract_features", "hash_split", "scan_dataset"]
