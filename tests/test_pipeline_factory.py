"""pipeline(): its arguments, task inference, defaults, the registry of tasks, custom pipelines, saving."""

import logging
import os

import numpy as np
import pytest

import henkan
from conftest import FIXTURES
from henkan.pipelines import PIPELINE_REGISTRY, Pipeline, TextClassificationPipeline

HERE = os.path.join(FIXTURES, "text_pipelines")
NLI = os.path.join(HERE, "bert-nli")


def test_unknown_task_lists_known_tasks_and_close_matches():
    with pytest.raises(KeyError) as caught:
        henkan.pipeline("question-answer", model=NLI)
    message = str(caught.value)
    assert "Did you mean 'question-answering'" in message and "zero-shot-classification" in message
    with pytest.raises(KeyError, match="translation_XX_to_YY"):
        henkan.pipeline("translation_en_fr", model=NLI)
    assert "question-answering" in henkan.pipelines.get_supported_tasks()
    assert PIPELINE_REGISTRY.check_task("ner")[0] == "token-classification"
    assert PIPELINE_REGISTRY.check_task("translation_en_to_de")[2] == ("en", "de")


def test_task_is_inferred_from_the_checkpoint():
    assert henkan.pipeline(model=os.path.join(HERE, "bert-qa")).task == "question-answering"
    assert isinstance(henkan.pipeline(model=NLI), TextClassificationPipeline)
    config = henkan.AutoConfig.from_pretrained(os.path.join(HERE, "bert-qa"))
    model = henkan.AutoModelForQuestionAnswering.from_pretrained(os.path.join(HERE, "bert-qa"), config=config)
    assert isinstance(henkan.pipeline(model=model, tokenizer=os.path.join(HERE, "bert-qa")),
                      henkan.QuestionAnsweringPipeline)


def test_factory_arguments():
    import torch

    config = henkan.AutoConfig.from_pretrained(NLI)
    config.id2label = {0: "no", 1: "maybe", 2: "entailment"}
    config.label2id = {v: k for k, v in config.id2label.items()}
    zs = henkan.pipeline("zero-shot-classification", model=NLI, config=config, tokenizer=NLI, device="cpu",
                         torch_dtype=torch.float32, model_kwargs={}, framework="pt", use_fast=True, revision=None)
    assert zs.model.config.id2label[0] == "no"
    assert zs("a fox", candidate_labels=["a", "b"])["labels"]
    assert henkan.pipeline("text-classification", model=NLI, dtype=torch.bfloat16).model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="framework='tf'"):
        henkan.pipeline("text-classification", model=NLI, framework="tf")


def test_default_checkpoint_notice_and_offline_error():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("henkan").addHandler(handler)
    try:
        with pytest.raises(OSError) as caught:
            henkan.pipeline("question-answering")
    finally:
        logging.getLogger("henkan").removeHandler(handler)
    assert records[0].getMessage().startswith(
        "No model was supplied, defaulted to distilbert/distilbert-base-cased-distilled-squad and revision 564e9b5")
    message = str(caught.value)
    assert "henkan download distilbert/distilbert-base-cased-distilled-squad --revision 564e9b5" in message
    assert "HF_HUB_OFFLINE" in message


class PairClassificationPipeline(Pipeline):
    """The seed's custom pipeline: a text pair in, the best label and the logits out."""

    def _sanitize_parameters(self, **kwargs):
        pre = {"second_text": kwargs["second_text"]} if "second_text" in kwargs else {}
        return pre, {}, {}

    def preprocess(self, text, second_text=None):
        return self.tokenizer(text, text_pair=second_text)

    def postprocess(self, outputs):
        logits = outputs["logits"].numpy()
        best = int(logits.argmax())
        return {"label": self.model.config.id2label[best], "score": float(np.exp(logits[best]) /
                                                                        np.exp(logits).sum()), "logits": logits.tolist()}


def test_registered_custom_task(tmp_path):
    PIPELINE_REGISTRY.register_pipeline("pair-classification", pipeline_class=PairClassificationPipeline,
                                        pt_model=henkan.AutoModelForSequenceClassification)
    try:
        assert "pair-classification" in PIPELINE_REGISTRY.get_supported_tasks()
        classifier = henkan.pipeline("pair-classification", model=NLI)
        result = classifier("I like you", second_text="I love you")
        reference = henkan.pipeline("text-classification", model=NLI)({"text": "I like you",
                                                                        "text_pair": "I love you"})
        assert result["label"] == reference["label"] and result["score"] == pytest.approx(reference["score"])
        classifier.save_pretrained(tmp_path / "saved")
        again = henkan.pipeline("pair-classification", model=str(tmp_path / "saved"))
        assert again("I like you", second_text="I love you")["logits"] == pytest.approx(result["logits"])
    finally:
        del PIPELINE_REGISTRY.supported_tasks["pair-classification"]


def test_pipeline_class_subclass():
    class Percent(TextClassificationPipeline):
        def postprocess(self, outputs, **kwargs):
            result = super().postprocess(outputs, **kwargs)
            return {**result, "score": result["score"] * 100}

    pipe = henkan.pipeline("text-classification", model=NLI, pipeline_class=Percent)
    assert isinstance(pipe, Percent) and pipe("a fox")[0]["score"] > 1


def test_save_pretrained_round_trip(tmp_path):
    qa = henkan.pipeline("question-answering", model=os.path.join(HERE, "bert-qa"))
    qa.save_pretrained(tmp_path / "qa")
    again = henkan.pipeline("question-answering", model=str(tmp_path / "qa"))
    kwargs = {"question": "who lived?", "context": "the hobbit lived in a hole"}
    assert again(**kwargs) == qa(**kwargs)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        qa.save_pretrained(tmp_path / "file")


def test_progress_bar_on_long_lists_only(capsys):
    classify = henkan.pipeline("text-classification", model=NLI)
    classify(["a fox"] * 3)
    assert "it/s" not in capsys.readouterr().err
    classify(["a fox"] * 260, batch_size=130)
    assert "text-classification" in capsys.readouterr().err
    henkan.logging.disable_progress_bar()
    try:
        classify(["a fox"] * 260, batch_size=130)
        assert "text-classification" not in capsys.readouterr().err
    finally:
        henkan.logging.enable_progress_bar()
