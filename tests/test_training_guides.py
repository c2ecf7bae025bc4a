"""The task guides that train (docs-ja tasks__*.md), end to end on tiny local checkpoints and small in-memory
`datasets.Dataset`s. The guides' code is kept as written; what changes: the checkpoint (a tiny random model saved
with the test tokenizers), the data (a few synthetic rows), push_to_hub and fp16 off, epochs and sizes small, and
`evaluate.load(...)` replaced by a local function of the same call shape (the `evaluate` package fetches metric code
from the Hub)."""

import math
import os

import numpy as np
import pytest
import torch
from datasets import Dataset

from henkan import (AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForMultipleChoice,
                    AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification,
                    AutoTokenizer, BartConfig, BartForConditionalGeneration, BertConfig, BertForMaskedLM,
                    BertForMultipleChoice, BertForSequenceClassification, DataCollatorForLanguageModeling,
                    DataCollatorForSeq2Seq, DefaultDataCollator, DistilBertConfig, DistilBertForQuestionAnswering,
                    GPT2Config, GPT2LMHeadModel, Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer,
                    TrainingArguments)

pytestmark = pytest.mark.slow  # end-to-end runs of a few seconds each

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
WORDPIECE = os.path.join(FIXTURES, "tokenizers", "wordpiece")
GPT2_TOKENIZER = os.path.join(FIXTURES, "tokenizers", "gpt2")
WORDS = "the cat sat on mat a dog ran in park it is red blue big small house tree".split()


def sentence(g, n):
    return " ".join(WORDS[int(i)] for i in torch.randint(0, len(WORDS), (n,), generator=g))


def checkpoint(tmp_path, name, model, tokenizer_path):
    """A tiny random model saved with the test tokenizer: what `from_pretrained(checkpoint)` reads in the guides."""
    folder = str(tmp_path / name)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_path).save_pretrained(folder)
    return folder


class Accuracy:
    """Stands in for `evaluate.load("accuracy")`."""

    def compute(self, predictions, references):
        return {"accuracy": float((np.asarray(predictions) == np.asarray(references)).mean())}


def small(**kwargs):
    torch.manual_seed(0)
    return dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                max_position_embeddings=64, **kwargs)


def test_multiple_choice_guide(tmp_path):
    from dataclasses import dataclass
    from typing import Optional, Union

    from henkan import PaddingStrategy, PreTrainedTokenizerBase

    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(24):
        endings = [sentence(g, 3) for _ in range(4)]
        rows.append({"sent1": sentence(g, 5), "sent2": "then", "ending0": endings[0], "ending1": endings[1],
                     "ending2": endings[2], "ending3": endings[3], "label": i % 4})
    swag = Dataset.from_list(rows).train_test_split(test_size=0.25, seed=0)
    swag["validation"] = swag.pop("test")
    path = checkpoint(tmp_path, "bert-mc", BertForMultipleChoice(BertConfig(vocab_size=283, **small())), WORDPIECE)
    tokenizer = AutoTokenizer.from_pretrained(path)

    ending_names = ["ending0", "ending1", "ending2", "ending3"]

    def preprocess_function(examples):
        first_sentences = [[context] * 4 for context in examples["sent1"]]
        question_headers = examples["sent2"]
        second_sentences = [
            [f"{header} {examples[end][i]}" for end in ending_names] for i, header in enumerate(question_headers)
        ]
        first_sentences = sum(first_sentences, [])
        second_sentences = sum(second_sentences, [])
        tokenized_examples = tokenizer(first_sentences, second_sentences, truncation=True)
        return {k: [v[i: i + 4] for i in range(0, len(v), 4)] for k, v in tokenized_examples.items()}

    tokenized_swag = swag.map(preprocess_function, batched=True)

    @dataclass
    class DataCollatorForMultipleChoice:
        tokenizer: PreTrainedTokenizerBase
        padding: Union[bool, str, PaddingStrategy] = True
        max_length: Optional[int] = None
        pad_to_multiple_of: Optional[int] = None

        def __call__(self, features):
            label_name = "label" if "label" in features[0].keys() else "labels"
            labels = [feature.pop(label_name) for feature in features]
            batch_size = len(features)
            num_choices = len(features[0]["input_ids"])
            flattened_features = [
                [{k: v[i] for k, v in feature.items()} for i in range(num_choices)] for feature in features
            ]
            flattened_features = sum(flattened_features, [])
            batch = self.tokenizer.pad(flattened_features, padding=self.padding, max_length=self.max_length,
                                       pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
            batch = {k: v.view(batch_size, num_choices, -1) for k, v in batch.items()}
            batch["labels"] = torch.tensor(labels, dtype=torch.int64)
            return batch

    accuracy = Accuracy()

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        predictions = np.argmax(predictions, axis=1)
        return accuracy.compute(predictions=predictions, references=labels)

    model = AutoModelForMultipleChoice.from_pretrained(path)
    training_args = TrainingArguments(
        output_dir=str(tmp_path / "my_awesome_swag_model"), eval_strategy="epoch", save_strategy="epoch",
        load_best_model_at_end=True, learning_rate=5e-5, per_device_train_batch_size=16,
        per_device_eval_batch_size=16, num_train_epochs=2, weight_decay=0.01, push_to_hub=False, report_to=[])
    trainer = Trainer(model=model, args=training_args, train_dataset=tokenized_swag["train"],
                      eval_dataset=tokenized_swag["validation"], tokenizer=tokenizer,
                      data_collator=DataCollatorForMultipleChoice(tokenizer=tokenizer),
                      compute_metrics=compute_metrics)
    trainer.train()
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_accuracy"] <= 1 and "eval_loss" in metrics
    assert trainer.state.best_model_checkpoint is not None
    # the saved checkpoint answers the guide's inference code
    best = AutoModelForMultipleChoice.from_pretrained(trainer.state.best_model_checkpoint)
    inputs = tokenizer([["the cat", "sat on the mat"], ["the cat", "ran in the park"]], return_tensors="pt",
                       padding=True)
    outputs = best(**{k: v.unsqueeze(0) for k, v in inputs.items()}, labels=torch.tensor(0).unsqueeze(0))
    assert outputs.logits.shape == (1, 2)


def test_causal_language_modeling_guide(tmp_path):
    g = torch.Generator().manual_seed(0)
    eli5 = Dataset.from_list([{"answers": {"text": [sentence(g, 12), sentence(g, 7)]}} for _ in range(40)])
    eli5 = eli5.train_test_split(test_size=0.2, seed=0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=500, n_embd=32, n_layer=2, n_head=2, n_positions=64))
    path = checkpoint(tmp_path, "gpt2", model, GPT2_TOKENIZER)
    tokenizer = AutoTokenizer.from_pretrained(path)
    eli5 = eli5.flatten()

    def preprocess_function(examples):
        return tokenizer([" ".join(x) for x in examples["answers.text"]])

    tokenized_eli5 = eli5.map(preprocess_function, batched=True, remove_columns=eli5["train"].column_names)
    block_size = 16

    def group_texts(examples):
        concatenated_examples = {k: sum(examples[k], []) for k in examples.keys()}
        total_length = len(concatenated_examples[list(examples.keys())[0]])
        if total_length >= block_size:
            total_length = (total_length // block_size) * block_size
        result = {
            k: [t[i: i + block_size] for i in range(0, total_length, block_size)]
            for k, t in concatenated_examples.items()
        }
        result["labels"] = result["input_ids"].copy()
        return result

    lm_dataset = tokenized_eli5.map(group_texts, batched=True)
    tokenizer.pad_token = tokenizer.eos_token
    data_collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm=False)
    model = AutoModelForCausalLM.from_pretrained(path)
    training_args = TrainingArguments(output_dir=str(tmp_path / "my_awesome_eli5_clm-model"), eval_strategy="epoch",
                                      learning_rate=2e-3, weight_decay=0.01, push_to_hub=False, num_train_epochs=2,
                                      report_to=[])
    trainer = Trainer(model=model, args=training_args, train_dataset=lm_dataset["train"],
                      eval_dataset=lm_dataset["test"], data_collator=data_collator)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    eval_results = trainer.evaluate()
    perplexity = math.exp(eval_results["eval_loss"])
    assert eval_results["eval_loss"] < before and perplexity < 500


def test_masked_language_modeling(tmp_path):
    g = torch.Generator().manual_seed(0)
    texts = Dataset.from_list([{"text": sentence(g, 10)} for _ in range(40)]).train_test_split(test_size=0.2, seed=0)
    path = checkpoint(tmp_path, "bert-mlm", BertForMaskedLM(BertConfig(vocab_size=283, **small())), WORDPIECE)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenized = texts.map(lambda e: tokenizer(e["text"]), batched=True, remove_columns=["text"])
    data_collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15)
    model = AutoModelForMaskedLM.from_pretrained(path)
    training_args = TrainingArguments(output_dir=str(tmp_path / "my_awesome_eli5_mlm_model"), eval_strategy="epoch",
                                      learning_rate=2e-3, num_train_epochs=2, weight_decay=0.01, report_to=[])
    trainer = Trainer(model=model, args=training_args, train_dataset=tokenized["train"],
                      eval_dataset=tokenized["test"], data_collator=data_collator)
    trainer.train()
    assert math.isfinite(math.exp(trainer.evaluate()["eval_loss"]))


def test_question_answering_guide(tmp_path):
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(30):
        context = sentence(g, 12)
        answer = context.split()[3 + i % 5]
        start = context.index(" " + answer + " ") + 1 if f" {answer} " in context else context.index(answer)
        rows.append({"id": str(i), "question": "what is it?", "context": context,
                     "answers": {"answer_start": [start], "text": [answer]}})
    squad = Dataset.from_list(rows).train_test_split(test_size=0.2, seed=0)
    model = DistilBertForQuestionAnswering(DistilBertConfig(vocab_size=283, dim=32, n_layers=2, n_heads=2,
                                                            hidden_dim=48, max_position_embeddings=64))
    path = checkpoint(tmp_path, "distilbert-qa", model, WORDPIECE)
    tokenizer = AutoTokenizer.from_pretrained(path)

    def preprocess_function(examples):
        questions = [q.strip() for q in examples["question"]]
        inputs = tokenizer(questions, examples["context"], max_length=48, truncation="only_second",
                           return_offsets_mapping=True, padding="max_length")
        offset_mapping = inputs.pop("offset_mapping")
        answers = examples["answers"]
        start_positions = []
        end_positions = []
        for i, offset in enumerate(offset_mapping):
            answer = answers[i]
            start_char = answer["answer_start"][0]
            end_char = answer["answer_start"][0] + len(answer["text"][0])
            sequence_ids = inputs.sequence_ids(i)
            idx = 0
            while sequence_ids[idx] != 1:
                idx += 1
            context_start = idx
            while sequence_ids[idx] == 1:
                idx += 1
            context_end = idx - 1
            if offset[context_start][0] > end_char or offset[context_end][1] < start_char:
                start_positions.append(0)
                end_positions.append(0)
            else:
                idx = context_start
                while idx <= context_end and offset[idx][0] <= start_char:
                    idx += 1
                start_positions.append(idx - 1)
                idx = context_end
                while idx >= context_start and offset[idx][1] >= end_char:
                    idx -= 1
                end_positions.append(idx + 1)
        inputs["start_positions"] = start_positions
        inputs["end_positions"] = end_positions
        return inputs

    tokenized_squad = squad.map(preprocess_function, batched=True, remove_columns=squad["train"].column_names)
    data_collator = DefaultDataCollator()
    model = AutoModelForQuestionAnswering.from_pretrained(path)
    training_args = TrainingArguments(output_dir=str(tmp_path / "my_awesome_qa_model"), eval_strategy="epoch",
                                      learning_rate=2e-3, per_device_train_batch_size=16,
                                      per_device_eval_batch_size=16, num_train_epochs=2, weight_decay=0.01,
                                      push_to_hub=False, report_to=[])
    trainer = Trainer(model=model, args=training_args, train_dataset=tokenized_squad["train"],
                      eval_dataset=tokenized_squad["test"], tokenizer=tokenizer, data_collator=data_collator)
    trainer.train()
    assert trainer.label_names == ["start_positions", "end_positions"]
    output = trainer.predict(tokenized_squad["test"])
    start_logits, end_logits = output.predictions
    assert start_logits.shape == end_logits.shape == (6, 48)
    assert [a.shape for a in output.label_ids] == [(6,), (6,)] and "test_loss" in output.metrics


def test_summarization_guide_with_seq2seq_trainer(tmp_path):
    g = torch.Generator().manual_seed(0)
    rows = [{"text": sentence(g, 14), "summary": sentence(g, 4)} for _ in range(20)]
    billsum = Dataset.from_list(rows).train_test_split(test_size=0.2, seed=0)
    config = BartConfig(vocab_size=500, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=48, decoder_ffn_dim=48,
                        max_position_embeddings=64, pad_token_id=499, bos_token_id=0, eos_token_id=499,
                        decoder_start_token_id=499, forced_eos_token_id=None)
    torch.manual_seed(0)
    checkpoint_path = checkpoint(tmp_path, "bart", BartForConditionalGeneration(config), GPT2_TOKENIZER)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_path)
    tokenizer.pad_token = tokenizer.eos_token
    prefix = "summarize: "

    def preprocess_function(examples):
        inputs = [prefix + doc for doc in examples["text"]]
        model_inputs = tokenizer(inputs, max_length=1024, truncation=True)
        labels = tokenizer(text_target=examples["summary"], max_length=128, truncation=True)
        model_inputs["labels"] = labels["input_ids"]
        return model_inputs

    tokenized_billsum = billsum.map(preprocess_function, batched=True)
    data_collator = DataCollatorForSeq2Seq(tokenizer=tokenizer, model=checkpoint_path)

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        decoded_preds = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        labels = np.where(labels != -100, labels, tokenizer.pad_token_id)
        decoded_labels = tokenizer.batch_decode(labels, skip_special_tokens=True)
        result = {"exact": float(np.mean([p == r for p, r in zip(decoded_preds, decoded_labels)]))}  # for rouge
        prediction_lens = [np.count_nonzero(pred != tokenizer.pad_token_id) for pred in predictions]
        result["gen_len"] = np.mean(prediction_lens)
        return {k: round(v, 4) for k, v in result.items()}

    model = AutoModelForSeq2SeqLM.from_pretrained(checkpoint_path)
    training_args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / "my_awesome_billsum_model"), eval_strategy="epoch", learning_rate=2e-3,
        per_device_train_batch_size=16, per_device_eval_batch_size=16, weight_decay=0.01, save_total_limit=3,
        num_train_epochs=2, predict_with_generate=True, generation_max_length=12, push_to_hub=False, report_to=[])
    trainer = Seq2SeqTrainer(model=model, args=training_args, train_dataset=tokenized_billsum["train"],
                             eval_dataset=tokenized_billsum["test"], tokenizer=tokenizer,
                             data_collator=data_collator, compute_metrics=compute_metrics)
    trainer.train()
    metrics = trainer.evaluate()
    assert {"eval_loss", "eval_exact", "eval_gen_len"} <= set(metrics) and 0 < metrics["eval_gen_len"] <= 12
    predictions = trainer.predict(tokenized_billsum["test"]).predictions
    assert predictions.shape == (4, 12) and (predictions >= 0).all()  # padded with the pad token, decodable


@pytest.mark.parametrize("report_to", ["tensorboard"])
def test_knowledge_distillation_compute_loss(tmp_path, report_to):
    import torch.nn as nn
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(5, 283, (8,), generator=g).tolist(), "labels": i % 2} for i in range(32)]
    processed = Dataset.from_list(rows).train_test_split(test_size=0.25, seed=0)
    processed["validation"] = processed["test"]
    teacher_path = checkpoint(tmp_path, "teacher",
                              BertForSequenceClassification(BertConfig(vocab_size=283, **small())), WORDPIECE)
    torch.manual_seed(1)
    student_config = BertConfig(vocab_size=283, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=24, max_position_embeddings=64)
    student_model = BertForSequenceClassification(student_config)
    temperature, lambda_param = 5, 0.5

    class ImageDistilTrainer(Trainer):
        def __init__(self, *args, teacher_model=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher = teacher_model
            self.student = student_model
            self.loss_function = nn.KLDivLoss(reduction="batchmean")
            device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
            self.teacher.to(device)
            self.teacher.eval()
            self.temperature = temperature
            self.lambda_param = lambda_param

        def compute_loss(self, student, inputs, return_outputs=False):
            student_output = self.student(**inputs)
            with torch.no_grad():
                teacher_output = self.teacher(**inputs)
            soft_teacher = F.softmax(teacher_output.logits / self.temperature, dim=-1)
            soft_student = F.log_softmax(student_output.logits / self.temperature, dim=-1)
            distillation_loss = self.loss_function(soft_student, soft_teacher) * (self.temperature ** 2)
            student_target_loss = student_output.loss
            loss = (1. - self.lambda_param) * student_target_loss + self.lambda_param * distillation_loss
            return (loss, student_output) if return_outputs else loss

    training_args = TrainingArguments(
        output_dir=str(tmp_path / "my-awesome-model"), num_train_epochs=2, logging_dir=str(tmp_path / "logs"),
        logging_strategy="epoch", eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
        metric_for_best_model="accuracy", report_to=report_to, push_to_hub=False, hub_strategy="every_save")
    teacher_model = AutoModelForSequenceClassification.from_pretrained(teacher_path, num_labels=2)
    accuracy = Accuracy()

    def compute_metrics(eval_pred):
        predictions, labels = eval_pred
        acc = accuracy.compute(references=labels, predictions=np.argmax(predictions, axis=1))
        return {"accuracy": acc["accuracy"]}

    trainer = ImageDistilTrainer(model=student_model, teacher_model=teacher_model, args=training_args,
                                 train_dataset=processed["train"], eval_dataset=processed["validation"],
                                 data_collator=DefaultDataCollator(), compute_metrics=compute_metrics)
    trainer.train()
    metrics = trainer.evaluate(processed["test"])
    assert {"eval_loss", "eval_accuracy"} <= set(metrics)
    assert [e["epoch"] for e in trainer.state.log_history if "loss" in e] == [1.0, 2.0]
    assert os.listdir(tmp_path / "logs")  # TensorBoard events
