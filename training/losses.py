"""Training losses beyond plain cross-entropy, saved and reloaded by name.

This module imports Keras at import time; ``training.runner`` imports it only
when a run starts, so ``import training`` stays fast.
"""

import keras
from keras import ops

__all__ = ["CostMatrixLoss", "default_cost_matrix"]


@keras.saving.register_keras_serializable(package="cnn_image_lab")
class CostMatrixLoss(keras.losses.Loss):
    """Cross-entropy scaled by the cost of the mistake the network makes.

    ``cost_matrix[i][j]`` is the price of calling an image of class ``i``
    class ``j``. Each image's cross-entropy is multiplied by the entry for its
    true class and the class the network currently ranks first, so confident
    mistakes on an expensive class (a missed effusion) pull the weights
    harder than mistakes on a cheap one. Right answers cost the diagonal,
    usually 1.

    Args:
        cost_matrix: A square list of lists of non-negative numbers, one row
            and one column per class.
        name: The loss name shown in logs.

    Notes:
        The weight is picked by the arg-max prediction, which has no
        gradient; only the cross-entropy is differentiated. The class is
        registered with Keras, so a saved model reloads without
        ``custom_objects``.
    """

    def __init__(self, cost_matrix, name="cost_matrix_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.cost_matrix = [[float(value) for value in row] for row in cost_matrix]

    def call(self, y_true, y_pred):
        classes = len(self.cost_matrix)
        costs = ops.convert_to_tensor(self.cost_matrix, dtype=y_pred.dtype)
        true = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        weights = ops.take(ops.reshape(costs, (-1,)), true * classes + predicted)
        cross_entropy = keras.losses.sparse_categorical_crossentropy(true, y_pred)
        return cross_entropy * ops.stop_gradient(weights)

    def get_config(self):
        return {**super().get_config(), "cost_matrix": self.cost_matrix}


def default_cost_matrix(train_counts: list[int]) -> list[list[float]]:
    """A cost matrix that makes mistakes on rarer classes dearer.

    Right answers cost 1. Mistaking an image of class ``i`` for another class
    costs ``largest_count / count_i``, so in a 1:9 set a missed rare image
    weighs nine times as much as a missed common one.

    Example:
        >>> default_cost_matrix([10, 90])
        [[1.0, 9.0], [1.0, 1.0]]
    """
    largest = max(train_counts)
    return [
        [1.0 if i == j else largest / max(1, count) for j in range(len(train_counts))]
        for i, count in enumerate(train_counts)
    ]
