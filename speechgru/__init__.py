"""speechgru: speech-command recognizers built on a hand-written GRU.

Stages, one module each: ``audio`` → ``features`` → ``data`` → ``gru``/``model`` → ``train``
→ ``export`` → ``runtime``; side rooms ``synth`` and ``analysis``. Importing the package
is cheap: TensorFlow and librosa load only when a stage needs them.
"""

from .config import COMMANDS, SILENCE, UNKNOWN, FeatureConfig
from .errors import AudioError, ConfigError, DataError, ExportError, SpeechGRUError

__version__ = "0.1.0"
__all__ = ["COMMANDS", "SILENCE", "UNKNOWN", "AudioError", "ConfigError", "DataError",
           "ExportError", "FeatureConfig", "SpeechGRUError", "__version__"]
