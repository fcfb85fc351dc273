"""The ResNet builder: architecture, names, regularisation and parameter count."""

import math
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from training.models import (  # noqa: E402
    BLOCK_EXPLANATIONS,
    SUPPORTED_DEPTHS,
    block_diagram,
    build_resnet,
    describe_model,
    find_feature_layer,
)

STAGE_FILTERS = {2: 64, 3: 128, 4: 256, 5: 512}


@pytest.fixture(scope="module")
def resnet18():
    """A pre-activation ResNet-18 for 64x64 colour images and 2 classes."""
    return build_resnet((64, 64, 3), 2)


def _blocks(model):
    """Names such as ``conv3_block2`` of every residual block in the model."""
    matches = (re.match(r"(conv\d_block\d+)_", layer.name) for layer in model.layers)
    return sorted({match.group(1) for match in matches if match})


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def _expected_params(channels, classes, blocks_per_stage, preact=True):
    """Count ResNet parameters from the architecture, layer by layer.

    A k x k convolution from c_in to c_out maps has k*k*c_in*c_out weights (no
    bias); batch normalisation has 4 per map (gamma, beta, moving mean and
    variance); the dense layer has 512*classes weights plus one bias per class.
    """

    def conv(k, c_in, c_out):
        return k * k * c_in * c_out

    def bn(c):
        return 4 * c

    total = conv(7, channels, 64) + bn(64)
    c_in = 64
    for filters, blocks in zip((64, 128, 256, 512), blocks_per_stage, strict=True):
        for _ in range(blocks):
            total += conv(3, c_in, filters) + bn(filters) + conv(3, filters, filters)
            total += bn(c_in) if preact else bn(filters)
            if c_in != filters:
                total += conv(1, c_in, filters) + (0 if preact else bn(filters))
            c_in = filters
    if preact:
        total += bn(512)
    return total + 512 * classes + classes


def test_stem_is_a_7x7_stride_2_conv_then_a_stride_2_max_pool(resnet18):
    stem = resnet18.get_layer("conv1_conv")
    pool = resnet18.get_layer("pool1_pool")

    assert stem.kernel_size == (7, 7)
    assert stem.strides == (2, 2)
    assert stem.filters == 64
    assert isinstance(pool, keras.layers.MaxPooling2D)
    assert pool.pool_size == (3, 3)
    assert pool.strides == (2, 2)
    assert resnet18.get_layer("conv1_bn") is not None
    assert resnet18.get_layer("conv1_relu") is not None


def test_resnet18_has_two_blocks_in_each_of_four_stages(resnet18):
    assert _blocks(resnet18) == [
        f"conv{stage}_block{block}" for stage in (2, 3, 4, 5) for block in (1, 2)
    ]


def test_resnet34_lists_3_4_6_3_blocks():
    model = build_resnet((32, 32, 3), 3, depth=34)

    per_stage = [
        sum(name.startswith(f"conv{stage}_") for name in _blocks(model))
        for stage in (2, 3, 4, 5)
    ]
    assert per_stage == [3, 4, 6, 3]
    assert model.count_params() == _expected_params(3, 3, (3, 4, 6, 3))
    assert set(SUPPORTED_DEPTHS) == {18, 34, 50}


def test_projection_shortcuts_only_where_the_shape_changes(resnet18):
    projections = [conv for conv in _convs(resnet18) if conv.name.endswith("_0_conv")]

    assert [conv.name for conv in projections] == [
        "conv3_block1_0_conv",
        "conv4_block1_0_conv",
        "conv5_block1_0_conv",
    ]
    for conv in projections:
        assert conv.kernel_size == (1, 1)
        assert conv.strides == (2, 2)


def test_only_the_first_block_of_stages_3_to_5_downsamples(resnet18):
    strided = {conv.name for conv in _convs(resnet18) if conv.strides == (2, 2)} - {
        "conv1_conv"
    }
    assert strided == {
        f"conv{stage}_block1_{part}_conv" for stage in (3, 4, 5) for part in (0, 1)
    }
    assert resnet18.get_layer("conv5_block2_add").output.shape[1:] == (2, 2, 512)


def test_every_stage_uses_its_filter_count(resnet18):
    for conv in _convs(resnet18):
        stage = int(conv.name[4])
        if conv.name.startswith("conv1"):
            continue
        assert conv.filters == STAGE_FILTERS[stage], conv.name
        assert not conv.use_bias


def test_preactivation_order_and_identity_shortcuts(resnet18):
    block = "conv3_block1"
    preact = resnet18.get_layer(f"{block}_preact_relu").output
    assert resnet18.get_layer(f"{block}_0_conv").input is preact
    assert resnet18.get_layer(f"{block}_1_conv").input is preact
    assert (
        resnet18.get_layer(f"{block}_2_conv").input
        is resnet18.get_layer(f"{block}_1_relu").output
    )

    add_inputs = resnet18.get_layer("conv2_block2_add").input
    assert add_inputs[0] is resnet18.get_layer("conv2_block1_add").output


def test_head_is_bn_relu_pool_and_softmax(resnet18):
    assert resnet18.get_layer("post_bn") is not None
    assert resnet18.get_layer("post_relu") is not None
    assert isinstance(
        resnet18.get_layer("avg_pool"), keras.layers.GlobalAveragePooling2D
    )
    predictions = resnet18.get_layer("predictions")
    assert predictions.get_config()["activation"] == "softmax"
    assert resnet18.output_shape == (None, 2)

    images = np.random.default_rng(0).random((3, 64, 64, 3)).astype("float32")
    probabilities = resnet18.predict(images, verbose=0)
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_parameter_count_matches_the_architecture(resnet18):
    assert resnet18.count_params() == _expected_params(3, 2, (2, 2, 2, 2))


def test_one_channel_input_for_grayscale_images():
    model = build_resnet((64, 64, 1), 4)

    assert model.input_shape == (None, 64, 64, 1)
    assert model.get_layer("conv1_conv").kernel.shape == (7, 7, 1, 64)
    assert model.predict(np.zeros((2, 64, 64, 1)), verbose=0).shape == (2, 4)
    assert model.count_params() == _expected_params(1, 4, (2, 2, 2, 2))


def test_every_kernel_carries_an_l2_penalty(resnet18):
    conv_count = len(_convs(resnet18))

    assert conv_count == 1 + 8 * 2 + 3
    assert len(resnet18.losses) == conv_count + 1
    assert all(float(loss) > 0 for loss in resnet18.losses)
    for conv in _convs(resnet18):
        config = conv.get_config()
        assert config["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-4)
        assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert resnet18.get_layer("predictions").kernel_regularizer is not None


def test_zero_weight_decay_adds_no_penalty():
    model = build_resnet((32, 32, 3), 2, weight_decay=0)
    assert model.losses == []


def test_original_post_activation_blocks():
    model = build_resnet((64, 64, 3), 2, preact=False)

    names = {layer.name for layer in model.layers}
    assert "conv2_block1_out" in names
    assert "conv3_block1_0_bn" in names
    assert "conv2_block1_preact_bn" not in names
    assert "post_bn" not in names
    assert model.name == "resnet18"
    assert model.count_params() == _expected_params(3, 2, (2, 2, 2, 2), preact=False)


def test_unsupported_depth_names_the_value():
    with pytest.raises(ValueError, match="depth=101"):
        build_resnet((64, 64, 3), 2, depth=101)
    with pytest.raises(ValueError, match="num_classes=1"):
        build_resnet((64, 64, 3), 1)


# ResNet-50: Keras' own ResNet50 and ResNet50V2 are the reference. Their
# convolution names and kernel shapes must be ours exactly. Their parameter
# counts differ from ours only by the convolution biases they carry (ours are
# bias-free because batch normalisation follows), and for v2 by our stem's
# batch normalisation (4 * 64 values), which Keras' v2 stem leaves out.


@pytest.fixture(scope="module", params=[False, True], ids=["v1", "v2"])
def resnet50_pair(request):
    """(ours, Keras' reference body) for 64x64 colour images."""
    preact = request.param
    ours = build_resnet((64, 64, 3), 2, depth=50, preact=preact)
    reference_fn = (
        keras.applications.ResNet50V2 if preact else keras.applications.ResNet50
    )
    reference = reference_fn(weights=None, include_top=False, input_shape=(64, 64, 3))
    return preact, ours, reference


def _conv_kernels(model):
    return {conv.name: tuple(conv.kernel.shape) for conv in _convs(model)}


def test_resnet50_convolutions_match_keras_resnet50(resnet50_pair):
    _, ours, reference = resnet50_pair

    kernels = _conv_kernels(ours)
    assert kernels == _conv_kernels(reference)
    assert len(kernels) == 1 + 16 * 3 + 4
    assert kernels["conv2_block1_1_conv"] == (1, 1, 64, 64)
    assert kernels["conv2_block1_2_conv"] == (3, 3, 64, 64)
    assert kernels["conv2_block1_3_conv"] == (1, 1, 64, 256)
    assert kernels["conv5_block3_3_conv"] == (1, 1, 512, 2048)


def test_resnet50_parameter_count_matches_keras_resnet50(resnet50_pair):
    preact, ours, reference = resnet50_pair

    biases = sum(conv.filters for conv in _convs(reference) if conv.use_bias)
    stem_bn = 4 * 64 if preact else 0
    head = 2048 * 2 + 2
    assert ours.count_params() == reference.count_params() - biases + stem_bn + head


def test_resnet50_hand_count_per_bottleneck_block():
    """Count ResNet-50 v1 by hand: each block is 1x1, 3x3, 1x1 plus BN."""

    def block(c_in, filters, projection):
        width = 4 * filters
        total = c_in * filters + 9 * filters * filters + filters * width
        total += 4 * (filters + filters + width)
        if projection:
            total += c_in * width + 4 * width
        return total

    total = 7 * 7 * 1 * 64 + 4 * 64
    c_in = 64
    for filters, blocks in zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True):
        for index in range(blocks):
            total += block(c_in, filters, projection=index == 0)
            c_in = 4 * filters
    total += 2048 * 3 + 3

    model = build_resnet((40, 40, 1), 3, depth=50, preact=False)
    assert model.count_params() == total


def test_bottleneck_order_and_downsampling(resnet50_pair):
    preact, ours, _ = resnet50_pair

    for stage, blocks in zip((2, 3, 4, 5), (3, 4, 6, 3), strict=True):
        for index in range(1, blocks + 1):
            name = f"conv{stage}_block{index}"
            first, middle, last = (
                ours.get_layer(f"{name}_{part}_conv") for part in (1, 2, 3)
            )
            assert (first.kernel_size, middle.kernel_size, last.kernel_size) == (
                (1, 1),
                (3, 3),
                (1, 1),
            )
            assert last.filters == 4 * first.filters == 4 * middle.filters
            downsamples = stage > 2 and index == 1
            assert middle.strides == ((2, 2) if downsamples else (1, 1))
            assert first.strides == last.strides == (1, 1)

    if preact:
        preact_out = ours.get_layer("conv3_block1_preact_relu").output
        assert ours.get_layer("conv3_block1_1_conv").input is preact_out
        assert ours.get_layer("conv3_block1_0_conv").input is preact_out
        assert find_feature_layer(ours) == "post_relu"
    else:
        add = ours.get_layer("conv3_block1_add").output
        assert ours.get_layer("conv3_block1_out").input is add
        assert ours.get_layer("conv3_block1_0_bn") is not None
        assert find_feature_layer(ours) == "conv5_block3_out"
    assert ours.name == ("resnet50v2" if preact else "resnet50")


@pytest.mark.parametrize(
    ("depth", "preact", "size", "channels"),
    [
        (50, True, 40, 1),
        (50, False, 64, 3),
        (18, False, 48, 1),
        (34, True, 72, 3),
        (18, True, 33, 3),
    ],
)
def test_output_shapes_follow_the_input(depth, preact, size, channels):
    model = build_resnet((size, size, channels), 3, depth=depth, preact=preact)

    side = math.ceil(size / 32)
    width = 2048 if depth == 50 else 512
    assert model.input_shape == (None, size, size, channels)
    assert model.get_layer("conv1_conv").kernel.shape == (7, 7, channels, 64)
    features = model.get_layer(find_feature_layer(model))
    assert tuple(features.output.shape) == (None, side, side, width)
    assert model.output_shape == (None, 3)

    image = np.random.default_rng(size).random((1, size, size, channels))
    probabilities = model.predict(image.astype("float32"), verbose=0)
    assert probabilities.shape == (1, 3)
    np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-5)


def test_describe_model_counts_and_summary(resnet18):
    info = describe_model(resnet18)

    batch_norms = [
        layer
        for layer in resnet18.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    moving_statistics = sum(2 * layer.gamma.shape[0] for layer in batch_norms)
    assert info["parameters"] == _expected_params(3, 2, (2, 2, 2, 2))
    assert info["trainable_parameters"] == info["parameters"] - moving_statistics
    assert info["last_conv_layer"] == "post_relu"
    assert f"{info['parameters']:,}" in info["summary"]
    assert "conv5_block2_2_conv" in info["summary"]
    assert "(None, 2, 2, 512)" in info["summary"]


def test_describe_model_finds_the_feature_map_in_a_nested_model(resnet18):
    outer = keras.Sequential(
        [keras.Input((64, 64, 3)), keras.layers.Rescaling(1.0), resnet18]
    )
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

    assert find_feature_layer(outer) == "post_relu"
    assert describe_model(outer)["last_conv_layer"] == "post_relu"
    assert describe_model(dense_only)["last_conv_layer"] is None


# The diagrams cannot be rendered here (Graphviz is not installed), so the DOT
# text is read with a small parser of the subset it uses: one digraph with
# attribute lines, node statements and edge statements.

_NODE = re.compile(r'^\s*([A-Za-z_]\w*)\s*\[label="((?:[^"\\]|\\.)*)"(.*)\];$')
_EDGE = re.compile(r"^\s*([A-Za-z_]\w*)\s*->\s*([A-Za-z_]\w*)\s*(\[.*\])?;$")
_ATTRIBUTE = re.compile(
    r'^\s*(?:(?:node|edge)\s*\[.*\]|[a-z]+=(?:"(?:[^"\\]|\\.)*"|\w+));$'
)


def _parse_dot(source):
    """Nodes ``{id: label}`` and edges ``[(from, to, attributes)]`` of a DOT text."""
    lines = source.strip().splitlines()
    assert re.match(r"^digraph [A-Za-z_]\w* \{$", lines[0])
    assert lines[-1] == "}"
    assert source.count("{") == source.count("}") == 1

    nodes, edges = {}, []
    for line in lines[1:-1]:
        assert line.count('"') % 2 == 0, line
        if edge := _EDGE.match(line):
            edges.append((edge.group(1), edge.group(2), edge.group(3) or ""))
        elif node := _NODE.match(line):
            assert node.group(1) not in nodes, line
            nodes[node.group(1)] = node.group(2)
        else:
            assert _ATTRIBUTE.match(line), line
    for start, end, _ in edges:
        assert start in nodes and end in nodes
    return nodes, edges


def _main_path(nodes, edges):
    """Labels along the solid edges from ``input`` to ``output``."""
    following = {start: end for start, end, attrs in edges if "dashed" not in attrs}
    labels, node = [], following["input"]
    while node != "output":
        labels.append(nodes[node].split("\\n")[0])
        node = following[node]
    return labels


@pytest.mark.parametrize(
    ("kind", "preact", "expected"),
    [
        (
            "basic",
            False,
            ["3x3 conv, 64", "batch norm", "ReLU", "3x3 conv, 64", "batch norm"]
            + ["+", "ReLU"],
        ),
        (
            "basic",
            True,
            ["batch norm", "ReLU", "3x3 conv, 64", "batch norm", "ReLU"]
            + ["3x3 conv, 64", "+"],
        ),
        (
            "bottleneck",
            False,
            ["1x1 conv, 64", "batch norm", "ReLU", "3x3 conv, 64", "batch norm"]
            + ["ReLU", "1x1 conv, 256", "batch norm", "+", "ReLU"],
        ),
        (
            "bottleneck",
            True,
            ["batch norm", "ReLU", "1x1 conv, 64", "batch norm", "ReLU"]
            + ["3x3 conv, 64", "batch norm", "ReLU", "1x1 conv, 256", "+"],
        ),
    ],
)
def test_block_diagram_draws_the_layer_order_and_the_shortcut(kind, preact, expected):
    nodes, edges = _parse_dot(block_diagram(kind, preact))

    assert _main_path(nodes, edges) == expected
    shortcuts = [(start, end) for start, end, attrs in edges if "dashed" in attrs]
    assert shortcuts == [("input", "add")]
    assert nodes["add"] == "+"


def test_block_diagram_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind='wide'"):
        block_diagram("wide", True)


def test_block_explanations_cover_the_choices():
    assert set(BLOCK_EXPLANATIONS) >= {"residual", "bottleneck", "preactivation"}
    assert "shortcut" in BLOCK_EXPLANATIONS["residual"]
    assert "1x1" in BLOCK_EXPLANATIONS["bottleneck"]
    assert "before" in BLOCK_EXPLANATIONS["preactivation"]
    for sentence in BLOCK_EXPLANATIONS.values():
        assert sentence.endswith(".")
        assert len(sentence) < 600
