"""The image processors of the vision and image-text families: their settings and defaults, and the few steps
where a family departs from `BaseImageProcessor` (ConvNeXt's crop-percentage resize, EfficientNet's offset rescale
and second normalisation)."""

from __future__ import annotations

import numpy as np

from .image_processing import BaseImageProcessor, get_size_dict
from .image_transforms import center_crop, get_resize_output_image_size, resize
from .image_utils import (
    IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, ChannelDimension,
    PILImageResampling, infer_channel_dimension_format, make_flat_list_of_images, to_numpy_array,
)


def _settings(size, resample, crop_size=None, mean=IMAGENET_STANDARD_MEAN, std=IMAGENET_STANDARD_STD,
              convert_rgb=None, **extra) -> dict:
    """A family's settings with their defaults, in the constructor's order (no crop when `crop_size` is None)."""
    settings = {"do_resize": True, "size": size, "resample": resample}
    if crop_size is not None:
        settings.update(do_center_crop=True, crop_size=crop_size)
    settings.update(do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=mean, image_std=std)
    if convert_rgb is not False:
        settings["do_convert_rgb"] = convert_rgb
    settings.update(extra)
    return settings


_SQUARE_224 = {"height": 224, "width": 224}


class ViTImageProcessor(BaseImageProcessor):
    """ViT (and DiNAT): resize to 224x224 (bilinear), scale to [0, 1], normalise with mean = std = 0.5."""

    _defaults = _settings({"height": 224, "width": 224}, PILImageResampling.BILINEAR)


class DeiTImageProcessor(BaseImageProcessor):
    """DeiT: resize to 256x256 (bicubic), center-crop 224x224."""

    _defaults = _settings({"height": 256, "width": 256}, PILImageResampling.BICUBIC, _SQUARE_224, convert_rgb=False)


class BeitImageProcessor(BaseImageProcessor):
    """BEiT and Data2Vec-Vision: resize to 256x256 (bicubic), center-crop 224x224. Segmentation maps given with the
    images are resized and cropped alike into `labels` (with `do_reduce_labels`, class 0 - background - becomes the
    ignored 255 and the others shift down by one)."""

    _defaults = _settings({"height": 256, "width": 256}, PILImageResampling.BICUBIC, _SQUARE_224, convert_rgb=False,
                          do_reduce_labels=False)

    def __init__(self, **kwargs):
        if "reduce_labels" in kwargs:  # the old name of the setting
            kwargs.setdefault("do_reduce_labels", kwargs.pop("reduce_labels"))
        super().__init__(**kwargs)

    @staticmethod
    def reduce_label(label) -> np.ndarray:
        label = np.array(to_numpy_array(label))  # a copy: the caller's map is left as it was
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
        return label

    def preprocess(self, images, segmentation_maps=None, return_tensors=None, **kwargs):
        settings = self._settings(dict(kwargs))
        batch = super().preprocess(images, **kwargs)
        if segmentation_maps is not None:
            maps = make_flat_list_of_images(segmentation_maps, expected_ndims=2)
            batch["labels"] = [self._segmentation_map(m, settings) for m in maps]
        return batch.convert_to_tensors(return_tensors)

    def _segmentation_map(self, label, s: dict) -> np.ndarray:
        """A map through the images' resize and crop (same filter; no rescaling), as int64 class ids."""
        label = to_numpy_array(label)
        flat = label.ndim == 2
        if flat:
            label = label[None, ...]
        else:
            infer_channel_dimension_format(label, num_channels=1)
        if s["do_reduce_labels"]:
            label = self.reduce_label(label)
        label = super()._transform(label, {**s, "do_rescale": False, "do_normalize": False}, ChannelDimension.FIRST)
        return (np.squeeze(label, axis=0) if flat else label).astype(np.int64)

    def post_process_semantic_segmentation(self, outputs, target_sizes=None) -> list:
        """Per image, the class of each pixel: the argmax of the logits, resized (bilinearly) to `target_sizes`
        [(height, width), ...] when given."""
        import torch

        logits = outputs.logits
        if target_sizes is None:
            return list(logits.argmax(dim=1))
        if len(logits) != len(target_sizes):
            raise ValueError("Make sure that you pass in as many target sizes as the batch dimension of the logits")
        if hasattr(target_sizes, "tolist"):
            target_sizes = target_sizes.tolist()
        return [torch.nn.functional.interpolate(logits[i][None], size=tuple(int(v) for v in size), mode="bilinear",
                                                align_corners=False)[0].argmax(dim=0)
                for i, size in enumerate(target_sizes)]


class CLIPImageProcessor(BaseImageProcessor):
    """CLIP (and AltCLIP): shorter side to 224 (bicubic), center-crop 224x224, CLIP's mean/std, RGB."""

    _defaults = _settings({"shortest_edge": 224}, PILImageResampling.BICUBIC, _SQUARE_224, OPENAI_CLIP_MEAN,
                          OPENAI_CLIP_STD, convert_rgb=True)
    _square = {"size": False, "crop_size": True}

    def __init__(self, **kwargs):
        square = kwargs.pop("use_square_size", False)  # an old setting: a square of the shortest edge
        super().__init__(**kwargs)
        if square and "shortest_edge" in self.size:
            self.size = {"height": self.size["shortest_edge"], "width": self.size["shortest_edge"]}


class ChineseCLIPImageProcessor(CLIPImageProcessor):
    """Chinese-CLIP: CLIP's steps (its checkpoints give `size` as height and width)."""


class BitImageProcessor(CLIPImageProcessor):
    """BiT: CLIP's steps and defaults."""


class ConvNextImageProcessor(BaseImageProcessor):
    """ConvNeXt, ConvNeXt V2 and CvT: below 384 pixels, resize the shorter side to `shortest_edge / crop_pct` and
    center-crop a `shortest_edge` square; from 384 up, resize straight to the square."""

    _defaults = {"do_resize": True, "size": {"shortest_edge": 384}, "crop_pct": 224 / 256,
                 "resample": PILImageResampling.BILINEAR, "do_rescale": True, "rescale_factor": 1 / 255,
                 "do_normalize": True, "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD}
    _square = {"size": False}

    def resize(self, image: np.ndarray, size: dict, crop_pct: float | None = None, resample=PILImageResampling.BICUBIC,
               data_format=None, input_data_format=None, **kwargs) -> np.ndarray:
        size = get_size_dict(size, default_to_square=False)
        if "shortest_edge" not in size:
            raise ValueError(f"ConvNextImageProcessor needs size={{'shortest_edge': ...}}; got {size}.")
        edge = size["shortest_edge"]
        if edge >= 384:
            return resize(image, size=(edge, edge), resample=resample, data_format=data_format,
                          input_data_format=input_data_format, **kwargs)
        crop_pct = self.crop_pct if crop_pct is None else crop_pct
        output_size = get_resize_output_image_size(image, size=int(edge / crop_pct), default_to_square=False,
                                                   input_data_format=input_data_format)
        image = resize(image, size=output_size, resample=resample, data_format=data_format,
                       input_data_format=input_data_format, **kwargs)
        return center_crop(image, size=(edge, edge), data_format=data_format, input_data_format=input_data_format)

    def _transform(self, image, s, input_data_format):
        if s["do_resize"]:
            image = self.resize(image, s["size"], crop_pct=s["crop_pct"], resample=s["resample"],
                                input_data_format=input_data_format)
        return super()._transform(image, {**s, "do_resize": False}, input_data_format)


class EfficientNetImageProcessor(BaseImageProcessor):
    """EfficientNet and ALIGN: resize to 346x346 (nearest), optional center crop, rescale (with `rescale_offset`,
    to [-1, 1]), normalise, and with `include_top` divide by the std once more."""

    _defaults = {"do_resize": True, "size": {"height": 346, "width": 346}, "resample": PILImageResampling.NEAREST,
                 "do_center_crop": False, "crop_size": {"height": 289, "width": 289}, "rescale_factor": 1 / 255,
                 "rescale_offset": False, "do_rescale": True, "do_normalize": True,
                 "image_mean": IMAGENET_STANDARD_MEAN, "image_std": IMAGENET_STANDARD_STD, "include_top": True}

    def rescale(self, image: np.ndarray, scale: float, offset: bool = True, data_format=None, input_data_format=None,
                **kwargs) -> np.ndarray:
        image = super().rescale(image, scale, data_format=data_format, input_data_format=input_data_format, **kwargs)
        return image - 1 if offset else image

    def _transform(self, image, s, input_data_format):
        image = super()._transform(image, {**s, "do_rescale": False, "do_normalize": False}, input_data_format)
        if s["do_rescale"]:
            image = self.rescale(image, s["rescale_factor"], offset=s["rescale_offset"],
                                 input_data_format=input_data_format)
        if s["do_normalize"]:
            image = self.normalize(image, mean=s["image_mean"], std=s["image_std"], input_data_format=input_data_format)
        if s["include_top"]:
            image = self.normalize(image, mean=0, std=s["image_std"], input_data_format=input_data_format)
        return image


def _legacy(cls: type) -> type:
    """The `...FeatureExtractor` name an image processor had before (still found in old configs)."""
    name = cls.__name__.replace("ImageProcessor", "FeatureExtractor")
    return type(name, (cls,), {"__doc__": f"The former name of {cls.__name__}.", "__module__": __name__})


ViTFeatureExtractor = _legacy(ViTImageProcessor)
DeiTFeatureExtractor = _legacy(DeiTImageProcessor)
BeitFeatureExtractor = _legacy(BeitImageProcessor)
CLIPFeatureExtractor = _legacy(CLIPImageProcessor)
ChineseCLIPFeatureExtractor = _legacy(ChineseCLIPImageProcessor)
ConvNextFeatureExtractor = _legacy(ConvNextImageProcessor)

IMAGE_PROCESSORS = {cls.__name__: cls for cls in (
    ViTImageProcessor, DeiTImageProcessor, BeitImageProcessor, CLIPImageProcessor, ChineseCLIPImageProcessor,
    BitImageProcessor, ConvNextImageProcessor, EfficientNetImageProcessor, ViTFeatureExtractor, DeiTFeatureExtractor,
    BeitFeatureExtractor, CLIPFeatureExtractor, ChineseCLIPFeatureExtractor, ConvNextFeatureExtractor)}
