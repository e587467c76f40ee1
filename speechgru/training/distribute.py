"""``tf.distribute`` strategies for training: default, mirrored, multi-worker.

``multiworker`` uses ``MultiWorkerMirroredStrategy``, which reads the cluster from the
``TF_CONFIG`` environment variable (see the README). Keras 3's ``model.fit`` does not run
under that strategy (keras-team/keras#20585: "Keras 3 does not work with
MultiWorkerMirroredStrategy"), so :func:`fit_multiworker` is a plain synchronous
data-parallel loop: every worker makes the same global batches and keeps its share of
each, the gradients are summed across workers by the optimizer, and each step equals a
single-process step on the global batch.
"""

from __future__ import annotations

import sys

from ..errors import ConfigError

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


def fit_multiworker(model, strategy, dataset, *, epochs: int, initial_epoch: int, steps: int,
                    global_batch: int, label_smoothing: float, callbacks: list,
                    verbose: int = 1) -> None:
    """Train ``model`` (built and compiled in ``strategy.scope()``) on ``dataset`` (global
    batches of ``(x, one-hot y)``), calling the callbacks' epoch hooks with the training
    logs ``model.fit`` would give (loss, accuracy); the run's callback adds validation."""
    import keras
    import tensorflow as tf

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            per_example = keras.losses.categorical_crossentropy(
                y, p, label_smoothing=label_smoothing)
            # the sum over the global batch / its size: gradients summed across the
            # workers are then the gradient of the global batch's mean loss
            loss = tf.reduce_sum(per_example) / global_batch
        grads = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        right = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)),
                                      tf.float32))
        return loss, right

    @tf.function
    def train_step(batch):
        loss, right = strategy.run(replica_step, args=batch)
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                strategy.reduce(tf.distribute.ReduceOp.SUM, right, axis=None))

    it = iter(strategy.experimental_distribute_dataset(dataset))
    for cb in callbacks:
        cb.set_model(model)
    for epoch in range(initial_epoch, epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        total, right = 0.0, 0.0
        for _ in range(steps):
            loss, r = train_step(next(it))
            total, right = total + float(loss), right + float(r)
        logs = {"accuracy": right / (steps * global_batch), "loss": total / steps}
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs} " + " - ".join(
                f"{k}: {v:.4f}" for k, v in logs.items()),
                file=sys.stderr if verbose == 2 else sys.stdout, flush=True)
        if model.stop_training:
            break
