"""``tf.distribute`` strategies for training: default, mirrored, multi-worker.

``multiworker`` uses ``MultiWorkerMirroredStrategy``, which reads the cluster from the
``TF_CONFIG`` environment variable (see the README).
"""

from __future__ import annotations

from .errors import ConfigError

STRATEGIES = ("default", "mirrored", "multiworker")


def get_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--strategy must be one of {STRATEGIES}, got {name!r}")
