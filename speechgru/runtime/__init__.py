"""The runtime: an exported model directory → predictions, TF-free.

Owns the manifest check (:mod:`.manifest`), the LiteRT interpreters and their int8
(de)quantization (:mod:`.tflite`), clip prediction (:mod:`.recognizer`) and keyword
detection on a live stream (:mod:`.listener`). Imports only NumPy, soundfile, soxr,
``ai_edge_litert`` and :mod:`speechgru.audio` / :mod:`speechgru.config` /
:mod:`speechgru.errors` / :mod:`speechgru.utils`: no TensorFlow, no librosa, no Keras.
"""

from .listener import Listener
from .recognizer import Recognizer

__all__ = ["Listener", "Recognizer"]
