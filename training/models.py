"""Residual networks (ResNet-18 and ResNet-34) built from small named blocks.

Keras is imported inside the builder, so ``import training.models`` stays cheap
and the depth table below can be read without loading TensorFlow.
"""

__all__ = ["STAGES", "SUPPORTED_DEPTHS", "build_resnet"]

# Blocks per stage for each depth; a new depth is one more entry here. Stages
# are named conv2 ... conv5 after the paper, with 64, 128, 256 and 512 filters.
STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
}
SUPPORTED_DEPTHS = tuple(sorted(STAGES))

_STAGE_FILTERS = (64, 128, 256, 512)

# Batch-norm running statistics follow each batch with weight 0.1. The Keras
# default (0.01) needs hundreds of steps before validation predictions become
# meaningful, longer than a small teaching run lasts.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1.001e-5


def _conv(filters, kernel_size, strides, regularizer, name):
    """A bias-free convolution with He-normal weights and an L2 penalty.

    Every convolution here is followed, directly or after a residual sum, by
    batch normalisation, whose shift makes a bias redundant.
    """
    from keras import layers

    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name=name,
    )


def _batch_norm(name):
    """A batch-normalisation layer with this module's momentum and epsilon."""
    from keras import layers

    return layers.BatchNormalization(
        momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=name
    )


def _bn_relu(x, name):
    """Batch-normalise ``x`` and apply ReLU, naming both layers after ``name``."""
    from keras import layers

    x = _batch_norm(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _basic_block_preact(x, filters, strides, projection, regularizer, name):
    """A pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus x.

    Batch normalisation and ReLU come before each convolution, so the shortcut
    carries the block's input unchanged and the signal of every earlier layer
    reaches the output by pure addition. Where the block halves the picture or
    changes the number of feature maps, a strided 1x1 convolution of the
    pre-activated input replaces the identity shortcut.
    """
    from keras import layers

    preact = _bn_relu(x, f"{name}_preact")
    if projection:
        shortcut = _conv(filters, 1, strides, regularizer, f"{name}_0_conv")(preact)
    else:
        shortcut = x

    y = _conv(filters, 3, strides, regularizer, f"{name}_1_conv")(preact)
    y = _bn_relu(y, f"{name}_1")
    y = _conv(filters, 3, 1, regularizer, f"{name}_2_conv")(y)

    return layers.Add(name=f"{name}_add")([shortcut, y])


def _basic_block_original(x, filters, strides, projection, regularizer, name):
    """An original (post-activation) basic block: conv-BN-ReLU-conv-BN, add, ReLU.

    The residual sum is followed by a ReLU, so the next block sees a rectified
    signal. A strided 1x1 convolution with batch normalisation projects the
    shortcut where the shape changes.
    """
    from keras import layers

    if projection:
        shortcut = _conv(filters, 1, strides, regularizer, f"{name}_0_conv")(x)
        shortcut = _batch_norm(name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x

    y = _conv(filters, 3, strides, regularizer, f"{name}_1_conv")(x)
    y = _bn_relu(y, f"{name}_1")
    y = _conv(filters, 3, 1, regularizer, f"{name}_2_conv")(y)
    y = _batch_norm(name=f"{name}_2_bn")(y)

    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


_BLOCKS = {
    ("basic", True): _basic_block_preact,
    ("basic", False): _basic_block_original,
}


def _stack(x, block_fn, filters, blocks, first_strides, regularizer, name):
    """Chain ``blocks`` residual blocks; only the first one may downsample."""
    for index in range(blocks):
        strides = first_strides if index == 0 else 1
        projection = index == 0 and (strides != 1 or x.shape[-1] != filters)
        x = block_fn(
            x, filters, strides, projection, regularizer, f"{name}_block{index + 1}"
        )
    return x


def build_resnet(
    input_shape,
    num_classes,
    depth=18,
    preact=True,
    weight_decay=1e-4,
    name=None,
):
    """Build a residual network that classifies images into ``num_classes``.

    The stem looks at the picture through a 7x7 stride-2 convolution and a 3x3
    stride-2 max-pool, so the feature maps are a quarter of the input size.
    Four stages of residual blocks follow with 64, 128, 256 and 512 filters;
    stages 3 to 5 start by halving the feature maps again. Global average
    pooling turns the last maps into one vector, and a softmax layer gives one
    probability per class.

    Args:
        input_shape: ``(height, width, channels)``; 1 channel for grayscale
            images such as X-rays, 3 for colour photos.
        num_classes: Number of classes (at least 2).
        depth: 18 or 34 (see ``SUPPORTED_DEPTHS``).
        preact: ``True`` for pre-activation blocks (He et al. 2016, "Identity
            mappings in deep residual networks"); ``False`` for the original
            post-activation blocks (He et al. 2015).
        weight_decay: L2 factor on every convolution and dense kernel; 0
            turns the penalty off.
        name: Model name; defaults to ``resnet18v2`` style names.

    Returns:
        An uncompiled ``keras.Model`` mapping images to class probabilities.

    Notes:
        Convolutions use ``padding="same"``, so any input size works; below
        32 pixels the last stage sees a 1x1 map. The penalty adds
        ``weight_decay * sum(w ** 2)`` per kernel to the training loss, which
        is why a freshly built model reports a loss above ``log(num_classes)``.

    Example:
        >>> model = build_resnet((64, 64, 1), 2)  # doctest: +SKIP
        >>> model.output_shape  # doctest: +SKIP
        (None, 2)
    """
    import keras
    from keras import layers

    if depth not in STAGES:
        raise ValueError(
            f"Unsupported ResNet depth. Choose one of {SUPPORTED_DEPTHS}. "
            f"Received: depth={depth}"
        )
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            "input_shape must be (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    if int(num_classes) < 2:
        raise ValueError(
            "A classifier needs at least 2 classes. "
            f"Received: num_classes={num_classes}"
        )
    if weight_decay < 0:
        raise ValueError(
            f"weight_decay must be >= 0. Received: weight_decay={weight_decay}"
        )

    kind, blocks_per_stage = STAGES[depth]
    block_fn = _BLOCKS[(kind, bool(preact))]
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv(64, 7, 2, regularizer, "conv1_conv")(inputs)
    x = _bn_relu(x, "conv1")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool")(x)

    for stage, (filters, blocks) in enumerate(
        zip(_STAGE_FILTERS, blocks_per_stage, strict=True)
    ):
        first_strides = 1 if stage == 0 else 2
        x = _stack(
            x, block_fn, filters, blocks, first_strides, regularizer, f"conv{stage + 2}"
        )

    if preact:
        x = _bn_relu(x, "post")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(
        int(num_classes),
        activation="softmax",
        kernel_initializer="he_normal",
        kernel_regularizer=regularizer,
        name="predictions",
    )(x)

    if name is None:
        name = f"resnet{depth}{'v2' if preact else ''}"
    return keras.Model(inputs, outputs, name=name)
