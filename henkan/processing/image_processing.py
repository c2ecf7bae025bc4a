"""Image processors: `ImageProcessingMixin` (settings, loading, saving) and `BaseImageProcessor`, whose `preprocess`
runs the steps most vision families share - convert to RGB, resize, center crop, rescale, normalize - on PIL images,
arrays, tensors, file paths or lists of them, and returns `pixel_values`.

A family's processor is declared rather than written out: `_defaults` lists its settings and their default values
(the constructor's keyword arguments, in the reference's order), `_square` says which size settings read a bare int
as a square rather than a shortest edge, and a family overrides `resize` or `_transform` only where its steps differ.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..logging import get_logger
from .base import BatchFeature, PreprocessorMixin
from .image_transforms import center_crop, get_resize_output_image_size, normalize, rescale, resize
from .image_transforms import convert_to_rgb, to_channel_dimension_format
from .image_utils import (
    ChannelDimension, PILImageResampling, infer_channel_dimension_format, is_pil_image, is_scaled_image,
    make_flat_list_of_images, to_numpy_array, validate_preprocess_arguments,
)

logger = get_logger(__name__)

VALID_SIZE_DICT_KEYS = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"}, {"longest_edge"},
                        {"max_height", "max_width"})


def get_size_dict(size=None, max_size: int | None = None, height_width_order: bool = True,
                  default_to_square: bool = True, param_name: str = "size") -> dict:
    """A size setting in its dict form. An int is a square (`default_to_square`) or the shortest edge (with
    `max_size` as the longest); a pair is (height, width) (or (width, height) when not `height_width_order`); a dict
    must use one of the known key sets."""
    if isinstance(size, dict):
        size_dict = size
    elif isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if default_to_square:
            if max_size is not None:
                raise ValueError("Cannot specify both size as an int, with default_to_square=True and max_size")
            size_dict = {"height": int(size), "width": int(size)}
        else:
            size_dict = {"shortest_edge": int(size)}
            if max_size is not None:
                size_dict["longest_edge"] = max_size
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        height, width = size if height_width_order else size[::-1]
        size_dict = {"height": height, "width": width}
    elif size is None and max_size is not None and not default_to_square:
        size_dict = {"longest_edge": max_size}
    else:
        raise ValueError(f"Could not convert {param_name}={size!r} to a size dict: give an int, a (height, width) "
                         "pair, or a dict such as {'height': 224, 'width': 224} or {'shortest_edge': 224}.")
    if set(size_dict) not in VALID_SIZE_DICT_KEYS:
        raise ValueError(f"{param_name} must have one of the following set of keys: {VALID_SIZE_DICT_KEYS}, got "
                         f"{size_dict.keys()}")
    return size_dict


class ImageProcessingMixin(PreprocessorMixin):
    """The base of image processors: settings as attributes, saved as `preprocessor_config.json` with an
    `image_processor_type` key."""

    _type_key = "image_processor_type"
    _sections = ("image_processor",)

    def __init__(self, **kwargs):
        kwargs.pop("feature_extractor_type", None)  # written by the feature-extractor classes this replaced
        super().__init__(**kwargs)

    @classmethod
    def from_dict(cls, config: dict[str, Any], **kwargs):
        """Build from saved settings; keyword arguments override settings (`size` / `crop_size` in any form)."""
        config = dict(config)
        return_unused = kwargs.pop("return_unused_kwargs", False)
        for key in ("size", "crop_size"):
            if key in kwargs and key in config:
                config[key] = kwargs.pop(key)
        processor = cls(**config)
        for key in [key for key in kwargs if hasattr(processor, key)]:
            setattr(processor, key, kwargs.pop(key))
        return (processor, kwargs) if return_unused else processor

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoImageProcessor") -> None:
        super().register_for_auto_class(auto_class)


class BaseImageProcessor(ImageProcessingMixin):
    """An image processor: `processor(images, **overrides)` returns a BatchFeature with `pixel_values`
    (channels first unless `data_format` says otherwise; `return_tensors="pt"` or `"np"` stacks them)."""

    model_input_names = ["pixel_values"]
    _defaults: dict[str, Any] = {}
    _square: dict[str, bool] = {"size": True, "crop_size": True}
    _none_is_default = ("size", "crop_size", "image_mean", "image_std", "crop_pct")

    def __init__(self, **kwargs):
        settings = {}
        for key, default in self._defaults.items():
            value = kwargs.pop(key, default)
            if value is None and key in self._none_is_default:
                value = default
            if key in self._square and value is not None:
                value = get_size_dict(value, default_to_square=self._square[key], param_name=key)
            settings[key] = list(value) if isinstance(value, tuple) and key.startswith("image_") else value
        super().__init__(**kwargs)
        self.__dict__.update(settings)

    def __call__(self, images, *args, **kwargs) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)

    # --- the steps (methods, so a family can change one)

    def resize(self, image: np.ndarray, size: dict, resample=PILImageResampling.BICUBIC, data_format=None,
               input_data_format=None, **kwargs) -> np.ndarray:
        """Resize to `size`: {"height", "width"} exactly; {"shortest_edge"} (with an optional "longest_edge" cap)
        keeping the aspect ratio."""
        if "height" in size and "width" in size:
            output_size = (size["height"], size["width"])
        elif "shortest_edge" in size:
            output_size = get_resize_output_image_size(image, size["shortest_edge"], default_to_square=False,
                                                       max_size=size.get("longest_edge"),
                                                       input_data_format=input_data_format)
        else:
            raise ValueError(f"{type(self).__name__} resizes to a size with 'height' and 'width' or 'shortest_edge'; "
                             f"got size={size}.")
        return resize(image, size=output_size, resample=resample, data_format=data_format,
                      input_data_format=input_data_format, **kwargs)

    def center_crop(self, image: np.ndarray, size: dict, data_format=None, input_data_format=None,
                    **kwargs) -> np.ndarray:
        size = get_size_dict(size, param_name="crop_size")
        if "height" not in size or "width" not in size:
            raise ValueError(f"The size dictionary must have keys 'height' and 'width'. Got {size.keys()}")
        return center_crop(image, size=(size["height"], size["width"]), data_format=data_format,
                           input_data_format=input_data_format, **kwargs)

    def rescale(self, image: np.ndarray, scale: float, data_format=None, input_data_format=None,
                **kwargs) -> np.ndarray:
        return rescale(image, scale=scale, data_format=data_format, input_data_format=input_data_format, **kwargs)

    def normalize(self, image: np.ndarray, mean, std, data_format=None, input_data_format=None,
                  **kwargs) -> np.ndarray:
        return normalize(image, mean=mean, std=std, data_format=data_format, input_data_format=input_data_format,
                         **kwargs)

    def _transform(self, image: np.ndarray, s: dict, input_data_format) -> np.ndarray:
        """One image through the enabled steps; `s` holds the call's settings."""
        if s.get("do_resize"):
            image = self.resize(image, size=s["size"], resample=s["resample"], input_data_format=input_data_format)
        if s.get("do_center_crop"):
            image = self.center_crop(image, size=s["crop_size"], input_data_format=input_data_format)
        if s.get("do_rescale"):
            image = self.rescale(image, scale=s["rescale_factor"], input_data_format=input_data_format)
        if s.get("do_normalize"):
            image = self.normalize(image, mean=s["image_mean"], std=s["image_std"],
                                   input_data_format=input_data_format)
        return image

    # --- the call

    def _settings(self, overrides: dict) -> dict:
        """The call's settings: the processor's, replaced by the non-None overrides (sizes in dict form)."""
        settings = {}
        for key in self._defaults:
            value = overrides.pop(key, None)
            if value is None:
                value = getattr(self, key, None)
            elif key in self._square:
                value = get_size_dict(value, default_to_square=self._square[key], param_name=key)
            settings[key] = value
        return settings

    def preprocess(self, images, return_tensors=None, data_format=ChannelDimension.FIRST, input_data_format=None,
                   **kwargs) -> BatchFeature:
        """`pixel_values` for one image or a batch. Keyword arguments naming a setting (`size`, `do_resize`,
        `image_mean`, ...) override it for this call."""
        settings = self._settings(kwargs)
        if kwargs:
            warnings.warn(f"The following named arguments are not valid for `{type(self).__name__}.preprocess` and "
                          f"were ignored: {', '.join(repr(k) for k in kwargs)}", UserWarning, stacklevel=2)
        images = make_flat_list_of_images(images)
        validate_preprocess_arguments(**settings)
        if settings.get("do_convert_rgb"):
            images = [convert_to_rgb(image) for image in images]
        from_pil = is_pil_image(images[0])
        # an RGB PIL image about to be resized stays one: resizing it is what the array would come back to
        # (the reference converts it to an array and back), at half the cost
        keep_pil = bool(settings.get("do_resize"))
        arrays = [image if keep_pil and is_pil_image(image) and image.mode == "RGB" else to_numpy_array(image)
                  for image in images]
        if settings.get("do_rescale") and not is_pil_image(arrays[0]) and is_scaled_image(arrays[0]):
            logger.warning_once("It looks like you are trying to rescale already rescaled images. If the input images "
                                "have pixel values between 0 and 1, set `do_rescale=False` to avoid rescaling them "
                                "again.")
        if input_data_format is None:
            # a PIL image is height x width x channels; only arrays need their layout guessed
            pil_layout = from_pil and (is_pil_image(arrays[0]) or arrays[0].ndim == 3)
            input_data_format = ChannelDimension.LAST if pil_layout else infer_channel_dimension_format(arrays[0])
        pixel_values = []
        for image in arrays:
            image = self._transform(image, settings, input_data_format)
            if data_format is not None:
                image = to_channel_dimension_format(image, data_format, input_channel_dim=input_data_format)
            pixel_values.append(image)
        return BatchFeature({"pixel_values": pixel_values}, tensor_type=return_tensors)
