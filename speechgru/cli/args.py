"""What several commands parse alike."""

from __future__ import annotations


def _words(text: str | None):
    if text is None:
        return None
    words = tuple(w.strip() for w in text.split(",") if w.strip())
    if not words:
        from ..errors import ConfigError

        raise ConfigError(f"--words {text!r}: no words; give comma-separated words such as "
                          "yes,no,stop")
    return words
