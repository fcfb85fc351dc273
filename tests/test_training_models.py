"""The ResNet builder: architecture, names, regularisation and parameter count."""

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from training.models import SUPPORTED_DEPTHS, build_resnet  # noqa: E402

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
    assert set(SUPPORTED_DEPTHS) == {18, 34}


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
    with pytest.raises(ValueError, match="depth=50"):
        build_resnet((64, 64, 3), 2, depth=50)
    with pytest.raises(ValueError, match="num_classes=1"):
        build_resnet((64, 64, 3), 1)
