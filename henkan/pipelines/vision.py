"""Image pipelines: image-classification and image-feature-extraction over the image processor and a vision model.

An image is a path, an http(s) URL, base64 data, a PIL image, a numpy array (uint8 pixels, [height, width] or
[height, width, channels]) or a tensor the image processor takes; a list or a generator is many images. Images are
read as RGB, as the reference does, then sized by the image processor; a batch is the images' pixel values stacked.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import Pipeline
from .zero_shot import ContrastiveZeroShot


def _load(image, timeout=None):
    """The image the processor gets: PIL images and uint8 arrays as RGB PIL images, other arrays and tensors as
    they are (already-scaled pixels the processor reads in any channel layout)."""
    from ..processing.image_utils import is_pil_image, load_image

    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        from PIL import Image

        if image.ndim not in (2, 3):
            raise ValueError(f"An image array should be [height, width] or [height, width, channels], got shape "
                             f"{list(image.shape)}; pass a list for several images.")
        image = Image.fromarray(image)
    if isinstance(image, (np.ndarray, torch.Tensor)) and not is_pil_image(image):
        return image
    return load_image(image, timeout=timeout)


class ImagePipeline(Pipeline):
    """What the image pipelines share: the `image_processor`, loading, stacking the pixel values of a batch."""

    _sort_by_length = False

    def __init__(self, model, image_processor=None, tokenizer=None, device=None, task: str = "", batch_size: int = 1,
                 **kwargs):
        if image_processor is None:
            raise ValueError(f"The {task or type(self).__name__} pipeline needs an image processor: pass "
                             f"image_processor= (e.g. AutoImageProcessor.from_pretrained(checkpoint)), or load the "
                             f"pipeline from a checkpoint folder that has a preprocessor_config.json.")
        super().__init__(model, tokenizer, device=device, task=task, batch_size=batch_size,
                         image_processor=image_processor, **kwargs)

    def _is_single(self, inputs) -> bool:
        """One image: a path, URL or bytes, a PIL image, an array, a tensor of one image (lists, generators,
        datasets and [batch, channels, height, width] tensors are many)."""
        from ..processing.image_utils import is_pil_image

        if isinstance(inputs, torch.Tensor):
            return inputs.dim() != 4
        return isinstance(inputs, (str, bytes, dict, np.ndarray)) or is_pil_image(inputs) or \
            hasattr(inputs, "__fspath__")

    def __call__(self, inputs=None, *args, images=None, **kwargs):
        if images is not None:
            inputs = images
        if inputs is None:
            raise ValueError(f"Cannot call the {self.task or 'image'} pipeline without an inputs argument!")
        return super().__call__(inputs, *args, **kwargs)

    def preprocess(self, image, timeout=None, **processor_kwargs):
        return self.image_processor(_load(image, timeout), return_tensors="pt", **processor_kwargs)

    def _collate(self, encoded: list[dict]) -> dict:
        dtype = self.model.dtype
        return {key: torch.cat([item[key] for item in encoded]).to(self.device, dtype if key == "pixel_values" else
                                                                    None)
                for key in encoded[0]}

    def _forward(self, batch: dict, **kwargs) -> dict:
        outputs = self.model(**batch)
        return {key: value for key, value in outputs.items() if isinstance(value, torch.Tensor)}

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {key: value[row:row + 1] for key, value in outputs.items()}


class ImageClassificationPipeline(ImagePipeline):
    """`[{"label": ..., "score": ...}]` per image, best first: the top_k (default 5, at most the number of labels)
    scores by `function_to_apply` (sigmoid for multi-label or single-output models, else softmax; or "none")."""

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        post = {}
        if top_k is not None:
            post["top_k"] = top_k
        if function_to_apply is not None:
            function = str(getattr(function_to_apply, "value", function_to_apply)).lower()
            if function not in ("sigmoid", "softmax", "none"):
                raise ValueError(f"Unrecognized `function_to_apply` argument: {function_to_apply!r}; use 'sigmoid', "
                                 f"'softmax' or 'none'.")
            post["function_to_apply"] = function
        return ({"timeout": timeout} if timeout is not None else {}), {}, post

    def postprocess(self, outputs, function_to_apply=None, top_k=5):
        config = self.model.config
        if function_to_apply is None:
            multi = config.problem_type == "multi_label_classification" or config.num_labels == 1
            function_to_apply = "sigmoid" if multi else "softmax"
        logits = outputs["logits"][0].float()
        scores = {"sigmoid": torch.sigmoid, "softmax": lambda x: x.softmax(-1), "none": lambda x: x}[
            function_to_apply](logits)
        ranked = sorted(({"label": config.id2label[i], "score": score} for i, score in enumerate(scores.tolist())),
                        key=lambda r: r["score"], reverse=True)
        return ranked[:min(top_k, config.num_labels)] if top_k is not None else ranked


class ImageFeatureExtractionPipeline(ImagePipeline):
    """The base model's last hidden state per image (`[1, ...]` nested lists, or a tensor with
    `return_tensors=True`); with `pool=True`, its pooled output instead."""

    def _sanitize_parameters(self, image_processor_kwargs=None, return_tensors=None, pool=None, timeout=None,
                             **kwargs):
        super()._sanitize_parameters(**kwargs)
        pre = dict(image_processor_kwargs or {})
        if timeout is not None:
            pre["timeout"] = timeout
        post = {}
        if pool is not None:
            post["pool"] = pool
        if return_tensors is not None:
            post["return_tensors"] = return_tensors
        return pre, {}, post

    def _forward(self, batch: dict, **kwargs) -> dict:
        outputs = self.model(**batch)
        first = outputs.to_tuple()[0]
        return {"first": first, **{key: value for key, value in outputs.items() if isinstance(value, torch.Tensor)}}

    def postprocess(self, outputs, pool=False, return_tensors=False):
        if pool:
            if "pooler_output" not in outputs:
                raise ValueError("No pooled output was returned. Make sure the model has a `pooler` layer when using "
                                 "the `pool` option.")
            features = outputs["pooler_output"]
        else:
            features = outputs["first"]
        return features if return_tensors else features.tolist()


class ZeroShotImageClassificationPipeline(ContrastiveZeroShot, ImagePipeline):
    """`[{"score", "label"}]` per image, best first: each of `candidate_labels` becomes the text
    `hypothesis_template.format(label)` ("This is a photo of {}."), and the image-text model's similarity logits
    are a softmax over the labels. Images sharing their labels are batched with one pass of the text tower."""

    input_keys = ("pixel_values",)
    logits_name = "logits_per_image"
    default_template = "This is a photo of {}."

    def __init__(self, model, image_processor=None, tokenizer=None, **kwargs):
        self._require_tokenizer(tokenizer, kwargs.get("task"))
        super().__init__(model, image_processor=image_processor, tokenizer=tokenizer, **kwargs)

    def preprocess(self, image, candidate_labels=None, hypothesis_template=None, timeout=None,
                   tokenizer_kwargs=None):
        labels = self.encode_labels(candidate_labels, hypothesis_template, tokenizer_kwargs)
        return {**dict(super().preprocess(image, timeout=timeout)), **labels}
