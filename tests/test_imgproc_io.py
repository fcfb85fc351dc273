"""Tests for imgproc.io: each file mode decodes to the right dtype, shape and values."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from skimage import data as skimage_data

from imgproc.io import (
    IMAGE_EXTENSIONS,
    MAX_PIXELS,
    SAMPLES,
    ImageLoadError,
    load_image,
    load_sample,
    sample_names,
)

ORIENTATION_TAG = 0x0112


def _pillow_pixels(path):
    """Decode a file with Pillow alone, without any of imgproc's rules."""
    with Image.open(path) as picture:
        return np.asarray(picture)


def _png_header_only(width, height):
    """Bytes of a PNG that declares a size but carries no pixel data."""

    def chunk(kind, payload):
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def xray_pixels(xray_path):
    return _pillow_pixels(xray_path)


@pytest.fixture(scope="module")
def flower_pixels(flower_path):
    return _pillow_pixels(flower_path)


# Real files


def test_real_grayscale_xray_is_2d_uint8(xray_path, xray_pixels):
    image = load_image(xray_path)
    assert image.dtype == np.uint8
    assert image.shape == (1024, 1024)
    np.testing.assert_array_equal(image, xray_pixels)


def test_real_rgba_xray_becomes_single_channel(xray_rgba_path):
    raw = _pillow_pixels(xray_rgba_path)
    assert raw.shape == (1024, 1024, 4)  # the file really is RGBA
    image = load_image(xray_rgba_path)
    assert image.dtype == np.uint8
    assert image.shape == (1024, 1024)
    np.testing.assert_array_equal(image, raw[..., 0])


def test_real_flower_stays_colour(flower_path, flower_pixels):
    image = load_image(flower_path)
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[2] == 3
    np.testing.assert_array_equal(image, flower_pixels)


def test_load_from_bytes_and_file_object(flower_path, flower_pixels):
    from_bytes = load_image(flower_path.read_bytes())
    np.testing.assert_array_equal(from_bytes, flower_pixels)
    with open(flower_path, "rb") as handle:
        from_file = load_image(handle)
    np.testing.assert_array_equal(from_file, flower_pixels)
    from_string_path = load_image(str(flower_path))
    np.testing.assert_array_equal(from_string_path, flower_pixels)


# 16-bit and other high-depth modes


def test_16_bit_ramp_keeps_every_level(tmp_path):
    ramp = (np.arange(256, dtype=np.uint16) * 257).reshape(16, 16)
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    image = load_image(path)
    assert image.dtype == np.uint16
    assert len(np.unique(image)) == 256
    np.testing.assert_array_equal(image, ramp)


@pytest.mark.parametrize("mode", ["I;16B", "I;16L", "I;16"])
def test_16_bit_byte_orders_give_the_same_uint16(tmp_path, xray_pixels, mode):
    values = xray_pixels[:64, :80].astype(np.uint16) * 250 + 17
    dtype = ">u2" if mode == "I;16B" else "<u2"
    picture = Image.frombytes(mode, (80, 64), values.astype(dtype).tobytes())
    path = tmp_path / "sixteen.tif"
    picture.save(path)
    image = load_image(path)
    assert image.dtype == np.uint16
    assert image.dtype.byteorder in ("=", "|", "<" if np.little_endian else ">")
    np.testing.assert_array_equal(image, values)


def test_mode_i_within_16_bits_becomes_uint16(tmp_path):
    values = np.array([[0, 1, 300], [40000, 65535, 7]], dtype=np.int32)
    path = tmp_path / "int32.tif"
    Image.fromarray(values).save(path)
    image = load_image(path)
    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, values)


@pytest.mark.parametrize(
    ("values", "expected_dtype"),
    [
        ([[-1000, 0], [5, 3000]], np.int16),
        ([[-5, 0], [5, 70000]], np.int32),
    ],
)
def test_signed_mode_i_keeps_negative_values(tmp_path, values, expected_dtype):
    values = np.array(values, dtype=np.int32)
    path = tmp_path / "signed.tif"
    Image.fromarray(values).save(path)
    image = load_image(path)
    assert image.dtype == expected_dtype
    np.testing.assert_array_equal(image, values)


def test_float_tiff_stays_float32(tmp_path, xray_pixels):
    values = xray_pixels[:32, :48].astype(np.float32) / 255.0 - 0.25
    path = tmp_path / "float.tif"
    Image.fromarray(values).save(path)
    image = load_image(path)
    assert image.dtype == np.float32
    np.testing.assert_array_equal(image, values)


# 1-bit, 8-bit gray, palettes, alpha


def test_one_bit_image_is_a_bool_mask(tmp_path, xray_pixels):
    mask = xray_pixels[:100, :120] > 128
    path = tmp_path / "mask.png"
    Image.fromarray(mask).save(path)
    assert Image.open(path).mode == "1"
    image = load_image(path)
    assert image.dtype == np.bool_
    np.testing.assert_array_equal(image, mask)


def test_grayscale_jpeg_is_2d(tmp_path, xray_pixels):
    path = tmp_path / "gray.jpg"
    Image.fromarray(xray_pixels).save(path, quality=90)
    image = load_image(path)
    assert image.shape == (1024, 1024)
    assert image.dtype == np.uint8


def test_palette_gives_palette_colours_not_indices(tmp_path):
    palette = np.array(
        [[200, 30, 30], [20, 180, 40], [10, 20, 230], [250, 250, 0]], dtype=np.uint8
    )
    indices = (np.arange(12 * 10).reshape(12, 10) % 4).astype(np.uint8)
    picture = Image.fromarray(indices, mode="P")
    picture.putpalette(palette.ravel().tolist())
    path = tmp_path / "palette.png"
    picture.save(path)
    assert Image.open(path).mode == "P"
    image = load_image(path)
    assert image.shape == (12, 10, 3)
    np.testing.assert_array_equal(image, palette[indices])


def test_palette_gif_with_transparency_is_composited_over_white(tmp_path):
    palette = np.array([[0, 0, 0], [200, 30, 30], [20, 180, 40]], dtype=np.uint8)
    indices = (np.arange(8 * 9).reshape(8, 9) % 3).astype(np.uint8)
    picture = Image.fromarray(indices, mode="P")
    picture.putpalette(palette.ravel().tolist())
    path = tmp_path / "transparent.gif"
    picture.save(path, transparency=0)
    image = load_image(path)
    expected = palette[indices].copy()
    expected[indices == 0] = 255
    assert image.shape == (8, 9, 3)
    np.testing.assert_array_equal(image, expected)


def test_gray_with_partial_alpha_is_composited_over_white(tmp_path, xray_pixels):
    gray = xray_pixels[200:260, 300:350]
    alpha = xray_pixels[500:560, 100:150]
    assert alpha.min() < 255
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack([gray, alpha]), mode="LA").save(path)
    image = load_image(path)
    share = alpha / 255.0
    expected = np.rint(gray * share + 255.0 * (1.0 - share)).astype(np.uint8)
    assert image.shape == gray.shape
    np.testing.assert_array_equal(image, expected)


def test_opaque_rgba_drops_alpha(tmp_path, flower_pixels):
    rgba = np.dstack([flower_pixels, np.full(flower_pixels.shape[:2], 255, np.uint8)])
    path = tmp_path / "opaque.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    image = load_image(path)
    np.testing.assert_array_equal(image, flower_pixels)


def test_grayscale_saved_as_rgb_becomes_2d(tmp_path, xray_pixels):
    path = tmp_path / "gray_as_rgb.png"
    Image.fromarray(np.dstack([xray_pixels] * 3)).save(path)
    image = load_image(path)
    assert image.shape == (1024, 1024)
    np.testing.assert_array_equal(image, xray_pixels)


# Colour conversions and orientation


def test_cmyk_jpeg_is_converted_not_sliced(tmp_path, flower_path):
    path = tmp_path / "cmyk.jpg"
    Image.open(flower_path).convert("CMYK").save(path, quality=95)
    with Image.open(path) as picture:
        assert picture.mode == "CMYK"
        raw = np.asarray(picture)
        converted = np.asarray(picture.convert("RGB"))
    image = load_image(path)
    assert image.shape == raw.shape[:2] + (3,)
    np.testing.assert_allclose(image, converted, atol=1)
    sliced_error = np.abs(image.astype(int) - raw[..., :3].astype(int)).mean()
    assert sliced_error > 50


def test_exif_orientation_6_rotates_clockwise(tmp_path, flower_path):
    source = Image.open(flower_path)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    path = tmp_path / "rotated.jpg"
    source.save(path, exif=exif, quality=95)
    stored = _pillow_pixels(path)
    image = load_image(path)
    assert stored.shape[0] != stored.shape[1]
    np.testing.assert_array_equal(image, np.rot90(stored, k=-1))


def test_tiff_and_bmp_open(tmp_path, flower_pixels):
    for suffix in (".tif", ".bmp"):
        path = tmp_path / f"flower{suffix}"
        Image.fromarray(flower_pixels).save(path)
        np.testing.assert_array_equal(load_image(path), flower_pixels)


def test_multi_frame_tiff_gives_first_frame(tmp_path, xray_pixels):
    first = xray_pixels[:50, :60]
    second = 255 - first
    path = tmp_path / "frames.tif"
    Image.fromarray(first).save(
        path, save_all=True, append_images=[Image.fromarray(second)]
    )
    assert Image.open(path).n_frames == 2
    np.testing.assert_array_equal(load_image(path), first)


# Refusals


def test_text_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels\n")
    with pytest.raises(ImageLoadError, match="notes.png"):
        load_image(path)


def test_truncated_png_is_refused(tmp_path, xray_path):
    content = xray_path.read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(path)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def test_bytes_error_uses_given_name():
    with pytest.raises(ImageLoadError, match="upload.png"):
        load_image(b"definitely not an image", name="upload.png")


def test_size_limit_is_checked_from_the_header(xray_path):
    with pytest.raises(ImageLoadError) as caught:
        load_image(xray_path, max_pixels=1000)
    message = str(caught.value)
    assert "1024x1024" in message and "1,000" in message
    assert xray_path.name in message
    load_image(xray_path, max_pixels=1024 * 1024)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_declared_size_is_refused_before_decoding():
    # The file has no pixel data: decoding would fail as "truncated", so the
    # size message proves the refusal came from the header alone.
    header = _png_header_only(12_000, 9_000)
    with pytest.raises(ImageLoadError, match="12000x9000"):
        load_image(header, name="big.png")
    assert 12_000 * 9_000 > MAX_PIXELS


def test_decompression_bomb_gets_a_sentence():
    with pytest.raises(ImageLoadError, match=r"too large.*limit"):
        load_image(_png_header_only(60_000, 60_000), name="bomb.png")


# Samples


def test_extensions_are_lower_case_with_dots():
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)
    assert {".png", ".jpg", ".tif"} <= set(IMAGE_EXTENSIONS)


def test_required_samples_load_offline():
    required = {
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "camera",
        "moon",
        "coins",
        "retina",
        "hubble_deep_field",
        "immunohistochemistry",
    }
    assert required <= set(sample_names())
    assert all(SAMPLES[name].strip() for name in sample_names())
    for name in sample_names():
        image = load_sample(name)
        assert image.dtype == np.uint8
        assert image.ndim == 2 or image.shape[2] == 3


def test_samples_match_scikit_image():
    np.testing.assert_array_equal(load_sample("camera"), skimage_data.camera())
    np.testing.assert_array_equal(load_sample("astronaut"), skimage_data.astronaut())


def test_unknown_sample_is_refused():
    with pytest.raises(ValueError, match="lena"):
        load_sample("lena")


def test_uploaded_file_like_object(flower_path, flower_pixels):
    upload = io.BytesIO(flower_path.read_bytes())
    upload.name = "daisy.jpg"
    np.testing.assert_array_equal(load_image(upload), flower_pixels)
