"""Residual networks (ResNet-18, -34 and -50) built from small named blocks.

Keras is imported inside the functions, so ``import training.models`` stays
cheap, and the depth table, the block diagrams and their explanations can be
read without loading TensorFlow.
"""

import itertools

__all__ = [
    "BLOCK_EXPLANATIONS",
    "STAGES",
    "SUPPORTED_DEPTHS",
    "block_diagram",
    "build_resnet",
    "describe_model",
    "find_feature_layer",
]

# Block kind and blocks per stage for each depth; a new depth is one more entry
# here. Stages are named conv2 ... conv5 after the paper, with 64, 128, 256 and
# 512 filters; a bottleneck block widens its output to four times that.
STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
SUPPORTED_DEPTHS = tuple(sorted(STAGES))

_STAGE_FILTERS = (64, 128, 256, 512)
_EXPANSION = {"basic": 1, "bottleneck": 4}

# Batch-norm running statistics follow each batch with weight 0.1. The Keras
# default (0.01) needs hundreds of steps before validation predictions become
# meaningful, longer than a small teaching run lasts.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1.001e-5

# Characters per line of the layer table, wide enough that output shapes such
# as (None, 16, 16, 256) and block layer names stay on one line.
_SUMMARY_WIDTH = 110

BLOCK_EXPLANATIONS = {
    "residual": (
        "A residual block adds its input back to what its layers computed, "
        "through a shortcut that skips them. The layers only have to learn a "
        "correction to the picture they receive, and during training the "
        "error signal flows back through the shortcut unchanged, so networks "
        "with dozens of layers still learn. Where a block halves the feature "
        "maps or changes their number, the shortcut becomes a 1x1 convolution "
        "so that the two sides can be added."
    ),
    "bottleneck": (
        "A bottleneck block (ResNet-50) squeezes the feature maps with a 1x1 "
        "convolution to a quarter of their number, looks at 3x3 "
        "neighbourhoods in that thin stack, and widens it again with another "
        "1x1 convolution. The expensive 3x3 step works on few maps, so the "
        "network can be deeper for about the cost of a shallower one built "
        "from basic blocks of two 3x3 convolutions."
    ),
    "preactivation": (
        "Pre-activation blocks (ResNet v2) apply batch normalisation and ReLU "
        "before each convolution instead of after it, and nothing after the "
        "addition. The shortcut then carries the block's input untouched from "
        "the first block to the last, which makes very deep networks easier "
        "to train; one final batch normalisation and ReLU sit before the "
        "pooling."
    ),
    "original": (
        "Original blocks (ResNet v1) follow each convolution with batch "
        "normalisation and ReLU, and apply one more ReLU after the addition, "
        "so every block hands a rectified signal to the next."
    ),
}


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


def _bottleneck_block_preact(x, filters, strides, projection, regularizer, name):
    """A pre-activation bottleneck block: BN-ReLU, then 1x1, 3x3 and 1x1 convs.

    The first 1x1 convolution reduces the maps to ``filters``, the 3x3 one
    (strided where the block downsamples) looks at neighbourhoods, and the last
    1x1 convolution widens the result to ``4 * filters`` before the shortcut is
    added. Batch normalisation and ReLU precede every convolution.
    """
    from keras import layers

    width = filters * _EXPANSION["bottleneck"]
    preact = _bn_relu(x, f"{name}_preact")
    if projection:
        shortcut = _conv(width, 1, strides, regularizer, f"{name}_0_conv")(preact)
    else:
        shortcut = x

    y = _conv(filters, 1, 1, regularizer, f"{name}_1_conv")(preact)
    y = _bn_relu(y, f"{name}_1")
    y = _conv(filters, 3, strides, regularizer, f"{name}_2_conv")(y)
    y = _bn_relu(y, f"{name}_2")
    y = _conv(width, 1, 1, regularizer, f"{name}_3_conv")(y)

    return layers.Add(name=f"{name}_add")([shortcut, y])


def _bottleneck_block_original(x, filters, strides, projection, regularizer, name):
    """An original bottleneck block: 1x1, 3x3 and 1x1 convs with BN, add, ReLU.

    Each convolution is followed by batch normalisation, the first two also by
    ReLU; after the shortcut is added one more ReLU rectifies the sum. The
    stride sits on the 3x3 convolution, so a downsampling block still looks at
    every pixel of its input.
    """
    from keras import layers

    width = filters * _EXPANSION["bottleneck"]
    if projection:
        shortcut = _conv(width, 1, strides, regularizer, f"{name}_0_conv")(x)
        shortcut = _batch_norm(name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x

    y = _conv(filters, 1, 1, regularizer, f"{name}_1_conv")(x)
    y = _bn_relu(y, f"{name}_1")
    y = _conv(filters, 3, strides, regularizer, f"{name}_2_conv")(y)
    y = _bn_relu(y, f"{name}_2")
    y = _conv(width, 1, 1, regularizer, f"{name}_3_conv")(y)
    y = _batch_norm(name=f"{name}_3_bn")(y)

    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


_BLOCKS = {
    ("basic", True): _basic_block_preact,
    ("basic", False): _basic_block_original,
    ("bottleneck", True): _bottleneck_block_preact,
    ("bottleneck", False): _bottleneck_block_original,
}


def _stack(x, kind, preact, filters, blocks, first_strides, regularizer, name):
    """Chain ``blocks`` residual blocks; only the first one may downsample."""
    block_fn = _BLOCKS[(kind, preact)]
    width = filters * _EXPANSION[kind]
    for index in range(blocks):
        strides = first_strides if index == 0 else 1
        projection = index == 0 and (strides != 1 or x.shape[-1] != width)
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
    Four stages of residual blocks follow with 64, 128, 256 and 512 filters
    (ResNet-50 widens each block's output to four times that); stages 3 to 5
    start by halving the feature maps again. Global average pooling turns the
    last maps into one vector, and a softmax layer gives one probability per
    class.

    Args:
        input_shape: ``(height, width, channels)``; 1 channel for grayscale
            images such as X-rays, 3 for colour photos.
        num_classes: Number of classes (at least 2).
        depth: 18 or 34 (basic blocks of two 3x3 convolutions) or 50
            (bottleneck blocks of 1x1, 3x3 and 1x1 convolutions); see
            ``SUPPORTED_DEPTHS``.
        preact: ``True`` for pre-activation blocks (He et al. 2016, "Identity
            mappings in deep residual networks"); ``False`` for the original
            post-activation blocks (He et al. 2015).
        weight_decay: L2 factor on every convolution and dense kernel; 0
            turns the penalty off.
        name: Model name; defaults to ``resnet18v2`` style names.

    Returns:
        An uncompiled ``keras.Model`` mapping images to class probabilities.
        Layers are named like ``conv3_block2_1_conv``; the last feature map,
        the one Grad-CAM looks at, is ``post_relu`` for pre-activation models
        and ``conv5_block<N>_out`` for original ones (see
        :func:`find_feature_layer`).

    Notes:
        Convolutions use ``padding="same"``, so any input size works; below
        32 pixels the last stage sees a 1x1 map. The penalty adds
        ``weight_decay * sum(w ** 2)`` per kernel to the training loss, which
        is why a freshly built model reports a loss above ``log(num_classes)``.
        A downsampling bottleneck block strides its 3x3 convolution, not the
        first 1x1 convolution as in the 2015 paper; the weights and the
        parameter count are the same either way. Convolutions carry no bias,
        so ResNet-50 has one bias per filter fewer than Keras' own ResNet50.

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
    preact = bool(preact)
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
            x,
            kind,
            preact,
            filters,
            blocks,
            first_strides,
            regularizer,
            f"conv{stage + 2}",
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


def _is_model(layer):
    """Whether ``layer`` is itself a model nested inside another one."""
    import keras

    return isinstance(layer, keras.Model)


def find_feature_layer(model):
    """Name the layer that gives the model's last spatial feature map.

    Grad-CAM and similar maps look at the last layer whose output still has
    rows, columns and channels, just before global pooling turns the maps into
    one vector. Models nested inside ``model`` (a backbone wrapped in a
    ``Sequential``, for example) are searched too.

    Args:
        model: A built ``keras.Model``.

    Returns:
        The layer name, e.g. ``post_relu`` for a pre-activation ResNet.

    Raises:
        ValueError: If no layer has a 4-D output (batch, rows, columns,
            channels).
    """
    for layer in reversed(model.layers):
        if _is_model(layer):
            try:
                return find_feature_layer(layer)
            except ValueError:
                continue
        if layer.__class__.__name__ == "InputLayer":
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            return layer.name
    raise ValueError(
        f"Model {model.name!r} has no layer with a spatial feature map "
        "(batch, rows, columns, channels)."
    )


def describe_model(model):
    """Summarise a model for the page: parameter counts, layer table, feature map.

    Args:
        model: A built ``keras.Model``, e.g. from :func:`build_resnet`.

    Returns:
        A dict with ``parameters`` (all weights, including batch-norm running
        statistics), ``trainable_parameters`` (those the optimiser updates),
        ``summary`` (the text of ``model.summary()``, one layer per row) and
        ``last_conv_layer`` (the name from :func:`find_feature_layer`, or
        ``None`` for a model without spatial feature maps).
    """
    import math

    lines = []
    model.summary(
        line_length=_SUMMARY_WIDTH,
        print_fn=lambda text, *args, **kwargs: lines.append(text),
    )

    try:
        last_conv_layer = find_feature_layer(model)
    except ValueError:
        last_conv_layer = None

    trainable = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    return {
        "parameters": int(model.count_params()),
        "trainable_parameters": int(trainable),
        "summary": "\n".join(line.rstrip("\n") for line in lines),
        "last_conv_layer": last_conv_layer,
    }


# One block at the first stage (conv2): 64 maps in and out for a basic block,
# 256 in and out with a 64-map bottleneck. Each step is (node id, label).
_DIAGRAM_STEPS = {
    ("basic", False): (
        ("conv1", "3x3 conv, 64"),
        ("bn1", "batch norm"),
        ("relu1", "ReLU"),
        ("conv2", "3x3 conv, 64"),
        ("bn2", "batch norm"),
    ),
    ("basic", True): (
        ("bn1", "batch norm"),
        ("relu1", "ReLU"),
        ("conv1", "3x3 conv, 64"),
        ("bn2", "batch norm"),
        ("relu2", "ReLU"),
        ("conv2", "3x3 conv, 64"),
    ),
    ("bottleneck", False): (
        ("conv1", "1x1 conv, 64\\n(squeeze)"),
        ("bn1", "batch norm"),
        ("relu1", "ReLU"),
        ("conv2", "3x3 conv, 64"),
        ("bn2", "batch norm"),
        ("relu2", "ReLU"),
        ("conv3", "1x1 conv, 256\\n(expand)"),
        ("bn3", "batch norm"),
    ),
    ("bottleneck", True): (
        ("bn1", "batch norm"),
        ("relu1", "ReLU"),
        ("conv1", "1x1 conv, 64\\n(squeeze)"),
        ("bn2", "batch norm"),
        ("relu2", "ReLU"),
        ("conv2", "3x3 conv, 64"),
        ("bn3", "batch norm"),
        ("relu3", "ReLU"),
        ("conv3", "1x1 conv, 256\\n(expand)"),
    ),
}

_NODE_STYLE = {
    "conv": 'shape=box, style="rounded,filled", fillcolor="#cfe2f3"',
    "bn": 'shape=box, style="rounded,filled", fillcolor="#fff2cc"',
    "relu": 'shape=box, style="rounded,filled", fillcolor="#d9ead3"',
}


def block_diagram(kind, preact):
    """Draw one residual block as Graphviz DOT source for ``st.graphviz_chart``.

    The main path runs top to bottom through the block's layers; a dashed
    shortcut carries the input around them to the addition. Original blocks
    put batch norm and ReLU after each convolution and one more ReLU after the
    addition; pre-activation blocks put them before each convolution and
    nothing after. The channel counts are those of the first stage.

    Args:
        kind: ``"basic"`` (two 3x3 convolutions, ResNet-18 and -34) or
            ``"bottleneck"`` (1x1, 3x3 and 1x1 convolutions, ResNet-50).
        preact: ``True`` for a pre-activation (v2) block, ``False`` for an
            original (v1) one.

    Returns:
        A ``digraph`` in the DOT language.

    Example:
        >>> block_diagram("basic", True).startswith("digraph")
        True
    """
    if kind not in _EXPANSION:
        raise ValueError(
            f"kind must be 'basic' or 'bottleneck'. Received: kind={kind!r}"
        )
    preact = bool(preact)
    steps = _DIAGRAM_STEPS[(kind, preact)]
    channels = 64 * _EXPANSION[kind]
    version = "pre-activation (v2)" if preact else "original (v1)"

    lines = [
        "digraph residual_block {",
        "  rankdir=TB;",
        f'  label="{kind} block, {version}";',
        "  labelloc=t;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
        f'  input [label="input x\\n{channels} maps", shape=ellipse];',
    ]
    for node, label in steps:
        style = _NODE_STYLE[node.rstrip("0123456789")]
        lines.append(f'  {node} [label="{label}", {style}];')
    lines.append('  add [label="+", shape=circle];')
    if not preact:
        lines.append(f'  relu_out [label="ReLU", {_NODE_STYLE["relu"]}];')
    lines.append(f'  output [label="output\\n{channels} maps", shape=ellipse];')

    path = ["input", *(node for node, _ in steps), "add"]
    if not preact:
        path.append("relu_out")
    path.append("output")
    lines.extend(f"  {start} -> {end};" for start, end in itertools.pairwise(path))
    lines.append(
        '  input -> add [style=dashed, label="shortcut (identity;\\n'
        '1x1 conv where the shape changes)"];'
    )
    lines.append("}")
    return "\n".join(lines) + "\n"
