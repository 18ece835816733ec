"""Adam that updates only the rows of an embedding table a batch looks up (lazy Adam).

Keras's Adam turns the sparse gradient of an embedding lookup into a dense one and updates every row of the
table, its two moments and the weights, at every step: for the n-gram classifier's 200,001 x 32 table and the
token embeddings that was nine tenths of an epoch. Here a sparse gradient updates the rows it names and no
other: their moments and their weights, with Adam's formulas and its bias correction by the global step.
Every other weight (dense gradients) gets Keras's Adam unchanged.

Where every row is looked up at every step the result is Adam's exactly; otherwise a row's moments decay only
when the row is used, as in TensorFlow Addons' ``LazyAdam`` and PyTorch's ``SparseAdam`` (a row no batch uses
stays as it is, where dense Adam would still move it by its fading momentum).
"""

from __future__ import annotations

from typing import Any

from lstmcli.nn.backend import keras, tf


@keras.saving.register_keras_serializable(package="lstmcli")
class SparseAdam(keras.optimizers.Adam):  # type: ignore[misc]
    """Keras's Adam, with embedding lookups' sparse gradients applied to the rows they touch only."""

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        if not isinstance(gradient, tf.IndexedSlices) or self.amsgrad:
            super().update_step(gradient, variable, learning_rate)
            return
        rows, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(
            tf.cast(gradient.values, variable.dtype), position, tf.shape(rows)[0]
        )  # a row looked up twice in a batch gets the sum of its gradients, as the dense gradient has it
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, variable.dtype), tf.cast(self.beta_2, variable.dtype)
        lr = tf.cast(learning_rate, variable.dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(beta_2, step)) / (1 - tf.pow(beta_1, step))
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        m_rows = tf.gather(m.value, rows) * beta_1 + values * (1 - beta_1)
        v_rows = tf.gather(v.value, rows) * beta_2 + tf.square(values) * (1 - beta_2)
        self.assign(m, tf.IndexedSlices(m_rows, rows))
        self.assign(v, tf.IndexedSlices(v_rows, rows))
        self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
