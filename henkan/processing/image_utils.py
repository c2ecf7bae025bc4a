"""Image inputs: what counts as an image (PIL image, NumPy array, torch tensor, file path), reading files through PIL
(the `vision` extra, imported only when used), channel order, and the normalisation constants of the model families.
"""

from __future__ import annotations

import enum
import os
from typing import Any

import numpy as np

from ..logging import get_logger
from ..utils import ExplicitEnum

logger = get_logger(__name__)

IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406]
IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225]
IMAGENET_STANDARD_MEAN = [0.5, 0.5, 0.5]
IMAGENET_STANDARD_STD = [0.5, 0.5, 0.5]
OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class ChannelDimension(ExplicitEnum):
    FIRST = "channels_first"
    LAST = "channels_last"


class PILImageResampling(enum.IntEnum):
    """PIL's resampling filters by their integer codes (the values saved as `resample` in config files)."""

    NEAREST = 0
    LANCZOS = 1
    BILINEAR = 2
    BICUBIC = 3
    BOX = 4
    HAMMING = 5


def resampling_filter(resample) -> int:
    """The PIL filter code of `resample`: an int code, a PILImageResampling, or a name ("bicubic",
    "PIL.Image.BICUBIC")."""
    if isinstance(resample, (int, np.integer)) and 0 <= int(resample) <= 5:
        return int(resample)
    if isinstance(resample, str):
        name = resample.rsplit(".", 1)[-1].upper()
        if name in PILImageResampling.__members__:
            return int(PILImageResampling[name])
    raise ValueError(f"Unknown resample filter {resample!r}: use one of {', '.join(PILImageResampling.__members__)} "
                     "or their codes 0-5 (PILImageResampling.BICUBIC, ...).")


def _pil():
    try:
        import PIL.Image
        import PIL.ImageOps
    except ImportError as e:
        raise ImportError("Reading and resizing images needs Pillow: pip install 'henkan[vision]' (or pillow).") \
            from e
    return PIL


def is_pil_image(image) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "getbands")


def is_torch_tensor(value) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def is_valid_image(image) -> bool:
    return is_pil_image(image) or isinstance(image, np.ndarray) or is_torch_tensor(image)


def valid_images(images) -> bool:
    if isinstance(images, (list, tuple)):
        return all(valid_images(image) for image in images)
    return is_valid_image(images)


def _is_image_source(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def load_image(image, timeout: float | None = None):
    """A PIL image in RGB from a PIL image, a file path, an http(s) URL or base64 data (EXIF rotation applied)."""
    PIL = _pil()
    if isinstance(image, os.PathLike):
        image = os.fspath(image)
    if isinstance(image, str):
        image = _open_image(PIL, image, timeout)
    elif not is_pil_image(image):
        raise TypeError("Incorrect format used for image. Should be an url linking to an image, a base64 string, a "
                        f"local path, or a PIL image; got {type(image).__name__}.")
    image = PIL.ImageOps.exif_transpose(image)
    return image.convert("RGB")


def _open_image(PIL, source: str, timeout):
    import io

    if source.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(source, timeout=timeout) as response:
            data = io.BytesIO(response.read())
        return _decode(PIL, data, source)
    if os.path.isfile(source):
        return _decode(PIL, source, source)
    if os.path.isdir(source):
        raise ValueError(f"Image path {source!r} is a folder, not an image file.")
    import base64
    import binascii

    payload = source.split(",", 1)[1] if source.startswith("data:image/") else source
    try:
        data = base64.b64decode(payload.encode(), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        raise ValueError(f"Incorrect image source {source[:200]!r}: it is not an existing file, an http(s) URL nor "
                         "base64-encoded image data. Check the path (relative paths start at "
                         f"{os.getcwd()}).")
    return _decode(PIL, io.BytesIO(data), "the base64 data")


def _decode(PIL, file, name: str):
    try:
        image = PIL.Image.open(file)
        image.load()
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"Cannot read an image from {name}: {e}. It is not an image file PIL can decode (or it "
                         "is truncated/corrupt).") from e
    return image


def to_numpy_array(image) -> np.ndarray:
    if is_pil_image(image):
        return np.array(image)
    if is_torch_tensor(image):
        return image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        return image
    raise ValueError(f"Invalid image type: {type(image)}")


def make_flat_list_of_images(images, expected_ndims: int = 3) -> list:
    """The images of a call as a flat list: one image, a list, a list of lists, or a batched array/tensor. File
    paths and URLs are read (as RGB PIL images)."""
    if _is_image_source(images):
        return [load_image(images)]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("No images were given (an empty list).")
        flat = []
        for item in images:
            if isinstance(item, (list, tuple)):
                flat.extend(make_flat_list_of_images(item, expected_ndims) if item else [])
            elif _is_image_source(item):
                flat.append(load_image(item))
            elif is_pil_image(item) or (is_valid_image(item) and item.ndim == expected_ndims) or (
                    is_valid_image(item) and item.ndim == expected_ndims - 1):
                flat.append(item)
            elif is_valid_image(item) and item.ndim == expected_ndims + 1:
                flat.extend(list(item))
            else:
                raise _invalid(item)
        return flat
    if is_pil_image(images):
        return [images]
    if is_valid_image(images):
        if images.ndim in (expected_ndims, expected_ndims - 1):
            return [images]
        if images.ndim == expected_ndims + 1:
            return list(images)
        raise ValueError(f"Invalid image shape {tuple(images.shape)}. Expected either {expected_ndims + 1} or "
                         f"{expected_ndims} dimensions, but got {images.ndim} dimensions.")
    raise _invalid(images)


def _invalid(value) -> ValueError:
    return ValueError(f"Invalid image type {type(value).__name__}. Must be of type PIL.Image.Image, numpy.ndarray, "
                      "torch.Tensor, a file path or URL, or a list of those.")


def infer_channel_dimension_format(image: np.ndarray, num_channels: int | tuple[int, ...] | None = None,
                                   index: int | None = None) -> ChannelDimension:
    """Whether the channels of `image` come first or last. When both ends could be channels, the end holding 3
    of them wins if only one does (a 1x1 or 1-pixel-tall RGB image); otherwise first, with a warning."""
    num_channels = (1, 3) if num_channels is None else num_channels
    num_channels = (num_channels,) if isinstance(num_channels, int) else tuple(num_channels)
    which = "" if index is None else f" {index}"
    if image.ndim not in (3, 4, 5):
        if image.ndim == 2:
            raise ValueError(f"Image{which} has shape {tuple(image.shape)} (one channel, e.g. grayscale) but 3 "
                             "channels are expected: convert it to RGB (PIL: image.convert('RGB'), or pass "
                             "do_convert_rgb=True).")
        raise ValueError(f"Unsupported number of image dimensions: {image.ndim} (image{which} has shape "
                         f"{tuple(image.shape)}).")
    first, last = image.shape[image.ndim - 3], image.shape[image.ndim - 1]
    if first in num_channels and last in num_channels:
        if first != last and 3 in (first, last):
            return ChannelDimension.FIRST if first == 3 else ChannelDimension.LAST
        logger.warning(f"The channel dimension is ambiguous. Got image shape {tuple(image.shape)}. Assuming channels "
                       "are the first dimension. Pass input_data_format='channels_first' or 'channels_last' to say.")
        return ChannelDimension.FIRST
    if first in num_channels:
        return ChannelDimension.FIRST
    if last in num_channels:
        return ChannelDimension.LAST
    hint = " (RGBA? pass do_convert_rgb=True or image.convert('RGB'))" if 4 in (first, last) else ""
    raise ValueError(f"Unable to infer channel dimension format of image{which} with shape {tuple(image.shape)}: "
                     f"neither its first nor its last axis has {' or '.join(map(str, num_channels))} "
                     f"channels{hint}.")


def get_channel_dimension_axis(image: np.ndarray, input_data_format=None) -> int:
    if input_data_format is None:
        input_data_format = infer_channel_dimension_format(image)
    return image.ndim - 3 if ChannelDimension(input_data_format) == ChannelDimension.FIRST else image.ndim - 1


def get_image_size(image: np.ndarray, channel_dim=None) -> tuple[int, int]:
    """(height, width) of an image array (or PIL image)."""
    if is_pil_image(image):
        return image.height, image.width
    if channel_dim is None:
        channel_dim = infer_channel_dimension_format(image)
    if ChannelDimension(channel_dim) == ChannelDimension.FIRST:
        return image.shape[-2], image.shape[-1]
    return image.shape[-3], image.shape[-2]


def is_scaled_image(image: np.ndarray) -> bool:
    """Whether the values already lie in [0, 1] (a float image that needs no 1/255 rescale)."""
    if image.dtype == np.uint8:
        return False
    return bool(np.min(image) >= 0 and np.max(image) <= 1)


def validate_preprocess_arguments(do_rescale=None, rescale_factor=None, do_normalize=None, image_mean=None,
                                  image_std=None, do_pad=None, pad_size=None, do_center_crop=None, crop_size=None,
                                  do_resize=None, size=None, resample=None, **_: Any) -> None:
    if do_rescale and rescale_factor is None:
        raise ValueError("`rescale_factor` must be specified if `do_rescale` is `True`.")
    if do_pad and pad_size is None:
        raise ValueError("`pad_size` (or `size_divisor`) must be specified if `do_pad` is `True`.")
    if do_normalize and (image_mean is None or image_std is None):
        raise ValueError("`image_mean` and `image_std` must both be specified if `do_normalize` is `True`.")
    if do_center_crop and crop_size is None:
        raise ValueError("`crop_size` must be specified if `do_center_crop` is `True`.")
    if do_resize and (size is None or resample is None):
        raise ValueError("`size` and `resample` must be specified if `do_resize` is `True`.")
