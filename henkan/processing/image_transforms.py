"""Image transformations on NumPy arrays, with the reference's numerics: resizing goes through PIL (so the filters,
and the uint8 rounding, are PIL's), rescaling multiplies in float64 and returns float32, normalizing works in the
image's float type."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from math import ceil

import numpy as np

from ..utils import ExplicitEnum
from .image_utils import (
    ChannelDimension, PILImageResampling, _pil, get_channel_dimension_axis, get_image_size,
    infer_channel_dimension_format, is_pil_image, is_torch_tensor, resampling_filter,
)


def to_channel_dimension_format(image: np.ndarray, channel_dim, input_channel_dim=None) -> np.ndarray:
    """`image` with its channel axis first or last (`channel_dim`)."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Input image must be of type np.ndarray, got {type(image)}")
    if input_channel_dim is None:
        input_channel_dim = infer_channel_dimension_format(image)
    target = ChannelDimension(channel_dim)
    if ChannelDimension(input_channel_dim) == target:
        return image
    lead = list(range(image.ndim - 3))
    if target == ChannelDimension.FIRST:
        return image.transpose(lead + [image.ndim - 1, image.ndim - 3, image.ndim - 2])
    return image.transpose(lead + [image.ndim - 2, image.ndim - 1, image.ndim - 3])


def rescale(image: np.ndarray, scale: float, data_format=None, dtype=np.float32, input_data_format=None) -> np.ndarray:
    """`image * scale`, computed in float64 and returned as `dtype`."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Input image must be of type np.ndarray, got {type(image)}")
    out = image.astype(np.float64) * scale
    if data_format is not None:
        out = to_channel_dimension_format(out, data_format, input_data_format)
    return out.astype(dtype)


def _rescale_for_pil_conversion(image: np.ndarray) -> bool:
    """Whether a float image in [0, 1] must be scaled to [0, 255] to become a uint8 PIL image."""
    if image.dtype == np.uint8:
        return False
    if np.allclose(image, image.astype(int)):
        if np.all(image >= 0) and np.all(image <= 255):
            return False
        raise ValueError("The image to be converted to a PIL image contains values outside the range [0, 255], got "
                         f"[{image.min()}, {image.max()}] which cannot be converted to uint8.")
    if np.all(image >= 0) and np.all(image <= 1):
        return True
    raise ValueError("The image to be converted to a PIL image contains values outside the range [0, 1], got "
                     f"[{image.min()}, {image.max()}] which cannot be converted to uint8.")


def to_pil_image(image, do_rescale: bool | None = None, image_mode: str | None = None, input_data_format=None):
    """A PIL image from an array or tensor (channels first or last; floats in [0, 1] are scaled to [0, 255])."""
    PIL = _pil()
    if is_pil_image(image):
        return image
    if is_torch_tensor(image):
        image = image.detach().cpu().numpy()
    elif not isinstance(image, np.ndarray):
        raise ValueError(f"Input image type not supported: {type(image)}")
    image = to_channel_dimension_format(image, ChannelDimension.LAST, input_data_format)
    image = np.squeeze(image, axis=-1) if image.shape[-1] == 1 else image
    if do_rescale is None:
        do_rescale = _rescale_for_pil_conversion(image)
    if do_rescale:
        image = rescale(image, 255)
    image = image.astype(np.uint8)
    return PIL.Image.fromarray(image, mode=image_mode) if image_mode else PIL.Image.fromarray(image)


def get_size_with_aspect_ratio(image_size, size: int, max_size: int | None = None) -> tuple[int, int]:
    """(height, width) with the shorter side `size` (the longer one at most `max_size`), keeping the aspect ratio."""
    height, width = image_size
    raw_size = None
    if max_size is not None:
        shorter, longer = float(min(height, width)), float(max(height, width))
        if longer / shorter * size > max_size:
            raw_size = max_size * shorter / longer
            size = int(round(raw_size))
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    if width < height:
        return int((raw_size if raw_size is not None else size) * height / width), size
    return size, int((raw_size if raw_size is not None else size) * width / height)


def get_resize_output_image_size(input_image: np.ndarray, size, default_to_square: bool = True,
                                 max_size: int | None = None, input_data_format=None) -> tuple[int, int]:
    """The (height, width) a resize to `size` gives: (h, w) as given, a square, or the shorter side `size` with
    the aspect ratio kept (`default_to_square=False`), the longer one capped at `max_size`."""
    if isinstance(size, (tuple, list)):
        if len(size) == 2:
            return tuple(size)
        if len(size) != 1:
            raise ValueError("size must have 1 or 2 elements if it is a list or tuple")
        size = size[0]
    if default_to_square:
        return size, size
    height, width = get_image_size(input_image, input_data_format)
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be strictly greater than the requested size for the smaller "
                             f"edge size = {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(image, size: tuple[int, int], resample=None, reducing_gap: int | None = None, data_format=None,
           return_numpy: bool = True, input_data_format=None):
    """Resize to (height, width) with a PIL filter (bilinear by default). Float images in [0, 1] are resized as
    uint8 and scaled back, as the reference does."""
    PIL = _pil()
    resample = PILImageResampling.BILINEAR if resample is None else resample
    if len(size) != 2:
        raise ValueError("size must have 2 elements")
    height, width = (int(s) for s in size)
    if height < 1 or width < 1:
        raise ValueError(f"Cannot resize an image to {height}x{width} (height x width): both must be at least 1.")
    if input_data_format is None:
        input_data_format = infer_channel_dimension_format(image)
    data_format = input_data_format if data_format is None else data_format
    do_rescale = False
    if not isinstance(image, PIL.Image.Image):
        do_rescale = _rescale_for_pil_conversion(image)
        image = to_pil_image(image, do_rescale=do_rescale, input_data_format=input_data_format)
    resized = image.resize((width, height), resample=resampling_filter(resample), reducing_gap=reducing_gap)
    if not return_numpy:
        return resized
    resized = np.array(resized)
    if resized.ndim == 2:
        resized = resized[..., None]
    resized = to_channel_dimension_format(resized, data_format, input_channel_dim=ChannelDimension.LAST)
    return rescale(resized, 1 / 255) if do_rescale else resized


def normalize(image: np.ndarray, mean, std, data_format=None, input_data_format=None) -> np.ndarray:
    """`(image - mean) / std` per channel, in the image's float type (float32 for integer images)."""
    if not isinstance(image, np.ndarray):
        raise TypeError("image must be a numpy array")
    if input_data_format is None:
        input_data_format = infer_channel_dimension_format(image)
    channels = image.shape[get_channel_dimension_axis(image, input_data_format)]
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    mean = _per_channel(mean, channels, "mean", image.dtype)
    std = _per_channel(std, channels, "std", image.dtype)
    if ChannelDimension(input_data_format) == ChannelDimension.LAST:
        image = (image - mean) / std
    else:
        shape = (-1, 1, 1)
        image = (image - mean.reshape(shape)) / std.reshape(shape)
    return to_channel_dimension_format(image, data_format, input_data_format) if data_format is not None else image


def _per_channel(value, channels: int, name: str, dtype) -> np.ndarray:
    if isinstance(value, Collection):
        if len(value) != channels:
            hint = " (an RGBA or grayscale image? pass do_convert_rgb=True, or convert it with image.convert('RGB'))" \
                if channels in (1, 2, 4) and len(value) == 3 else ""
            raise ValueError(f"{name} must have {channels} elements if it is an iterable, got {len(value)}: the image "
                             f"has {channels} channel(s){hint}")
    else:
        value = [value] * channels
    return np.array(value, dtype=dtype)


def center_crop(image: np.ndarray, size: tuple[int, int], data_format=None, input_data_format=None) -> np.ndarray:
    """The central (height, width) window; an image smaller than that is padded with zeros around it first."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"Input image must be of type np.ndarray, got {type(image)}")
    if not isinstance(size, Iterable) or len(size) != 2:
        raise ValueError("size must have 2 elements representing the height and width of the output image")
    if input_data_format is None:
        input_data_format = infer_channel_dimension_format(image)
    output_format = data_format if data_format is not None else input_data_format
    image = to_channel_dimension_format(image, ChannelDimension.FIRST, input_data_format)
    height, width = get_image_size(image, ChannelDimension.FIRST)
    crop_height, crop_width = (int(s) for s in size)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    bottom, right = top + crop_height, left + crop_width
    if top >= 0 and bottom <= height and left >= 0 and right <= width:
        return to_channel_dimension_format(image[..., top:bottom, left:right], output_format, ChannelDimension.FIRST)
    new_height, new_width = max(crop_height, height), max(crop_width, width)
    padded = np.zeros_like(image, shape=image.shape[:-2] + (new_height, new_width))
    top_pad, left_pad = ceil((new_height - height) / 2), ceil((new_width - width) / 2)
    padded[..., top_pad:top_pad + height, left_pad:left_pad + width] = image
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    cropped = padded[..., max(0, top):min(new_height, bottom), max(0, left):min(new_width, right)]
    return to_channel_dimension_format(cropped, output_format, ChannelDimension.FIRST)


class PaddingMode(ExplicitEnum):
    CONSTANT = "constant"
    REFLECT = "reflect"
    REPLICATE = "replicate"
    SYMMETRIC = "symmetric"


def pad(image: np.ndarray, padding, mode=PaddingMode.CONSTANT, constant_values=0.0, data_format=None,
        input_data_format=None) -> np.ndarray:
    """Pad the height and width axes: `padding` is an int, (before, after), or ((top, bottom), (left, right))."""
    if input_data_format is None:
        input_data_format = infer_channel_dimension_format(image)

    def expand(values):
        if isinstance(values, (int, float)):
            values = ((values, values), (values, values))
        elif isinstance(values, tuple) and len(values) == 1:
            values = ((values[0], values[0]), (values[0], values[0]))
        elif isinstance(values, tuple) and len(values) == 2 and isinstance(values[0], (int, float)):
            values = (values, values)
        elif not (isinstance(values, tuple) and len(values) == 2 and isinstance(values[0], tuple)):
            raise ValueError(f"Unsupported format: {values}")
        values = ((0, 0), *values) if ChannelDimension(input_data_format) == ChannelDimension.FIRST \
            else (*values, (0, 0))
        return ((0, 0), *values) if image.ndim == 4 else values

    mode = PaddingMode(mode)
    if mode == PaddingMode.CONSTANT:
        image = np.pad(image, expand(padding), mode="constant", constant_values=expand(constant_values))
    else:
        numpy_mode = {"reflect": "reflect", "replicate": "edge", "symmetric": "symmetric"}[mode.value]
        image = np.pad(image, expand(padding), mode=numpy_mode)
    return to_channel_dimension_format(image, data_format, input_data_format) if data_format is not None else image


def convert_to_rgb(image):
    """PIL images in another mode (L, RGBA, P, CMYK, ...) converted to RGB; anything else unchanged."""
    if not is_pil_image(image) or image.mode == "RGB":
        return image
    return image.convert("RGB")


def flip_channel_order(image: np.ndarray, data_format=None, input_data_format=None) -> np.ndarray:
    """RGB <-> BGR."""
    input_data_format = infer_channel_dimension_format(image) if input_data_format is None else input_data_format
    if ChannelDimension(input_data_format) == ChannelDimension.LAST:
        image = image[..., ::-1]
    else:
        image = image[::-1, ...]
    return to_channel_dimension_format(image, data_format, input_data_format) if data_format is not None else image


def center_to_corners_format(boxes):
    """Boxes (center_x, center_y, width, height) -> (top_left_x, top_left_y, bottom_right_x, bottom_right_y)."""
    if is_torch_tensor(boxes):
        import torch

        cx, cy, w, h = boxes.unbind(-1)
        return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    cx, cy, w, h = np.asarray(boxes).T
    return np.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def corners_to_center_format(boxes):
    """Boxes (top_left_x, top_left_y, bottom_right_x, bottom_right_y) -> (center_x, center_y, width, height)."""
    if is_torch_tensor(boxes):
        import torch

        x0, y0, x1, y1 = boxes.unbind(-1)
        return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1)
    x0, y0, x1, y1 = np.asarray(boxes).T
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1)


def rgb_to_id(color):
    """Panoptic segment ids from RGB colours (R + 256 G + 256^2 B)."""
    if isinstance(color, np.ndarray) and color.ndim == 3:
        color = color.astype(np.int32) if color.dtype == np.uint8 else color
        return color[:, :, 0] + 256 * color[:, :, 1] + 256 * 256 * color[:, :, 2]
    return int(color[0] + 256 * color[1] + 256 * 256 * color[2])


def id_to_rgb(id_map):
    """The inverse of `rgb_to_id`."""
    if isinstance(id_map, np.ndarray):
        rest = id_map.copy()
        rgb = np.zeros((*id_map.shape, 3), dtype=np.uint8)
        for i in range(3):
            rgb[..., i] = rest % 256
            rest //= 256
        return rgb
    color = []
    for _ in range(3):
        color.append(id_map % 256)
        id_map //= 256
    return color
