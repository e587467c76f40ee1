"""One base error and a few subclasses.

Every message names the file or the argument, what is wrong, and what to do.
"""


class SpeechGRUError(Exception):
    """Base class of every error speechgru raises on purpose."""


class AudioError(SpeechGRUError):
    """An audio file cannot be used: unreadable, empty, corrupt, NaN/Inf samples."""


class DataError(SpeechGRUError):
    """A dataset is malformed: no clips, missing labels, paths outside the root."""


class ConfigError(SpeechGRUError):
    """A configuration value or file is invalid."""


class ExportError(SpeechGRUError):
    """A model cannot be exported, or an exported model cannot be loaded."""


class SynthError(SpeechGRUError):
    """A synthetic voice (espeak-ng, Kokoro) could not be loaded or failed to speak."""
