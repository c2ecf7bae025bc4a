"""Training: TrainingArguments, Trainer and Seq2SeqTrainer, callbacks, data collators, optimizers and schedules.

Models never import this package; the Trainer drives them through their ordinary forward.
"""

from .callbacks import (CallbackHandler, DefaultFlowCallback, EarlyStoppingCallback, ExportableState,
                        PrinterCallback, ProgressCallback, TensorBoardCallback, TrainerCallback, TrainerControl,
                        TrainerState)
from .data_collator import (DataCollatorForLanguageModeling, DataCollatorForSeq2Seq,
                            DataCollatorForTokenClassification, DataCollatorForWholeWordMask, DataCollatorWithPadding,
                            DefaultDataCollator, default_data_collator)
from .hf_argparser import HfArgumentParser
from .optimization import (Adafactor, AdafactorSchedule, AdamW, get_adafactor_schedule, get_constant_schedule,
                           get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup,
                           get_cosine_with_hard_restarts_schedule_with_warmup,
                           get_cosine_with_min_lr_schedule_with_warmup, get_inverse_sqrt_schedule,
                           get_linear_schedule_with_warmup, get_polynomial_decay_schedule_with_warmup,
                           get_reduce_on_plateau_schedule, get_scheduler, get_wsd_schedule)
from .seq2seq import Seq2SeqTrainer
from .trainer import Trainer
from .trainer_utils import (EvalPrediction, HubStrategy, IntervalStrategy, PredictionOutput, SaveStrategy,
                            SchedulerType, TrainOutput, enable_full_determinism, get_last_checkpoint, set_seed,
                            torch_distributed_zero_first)
from .training_args import Seq2SeqTrainingArguments, TrainingArguments

__all__ = ["CallbackHandler", "DefaultFlowCallback", "EarlyStoppingCallback", "ExportableState", "PrinterCallback",
           "ProgressCallback", "TensorBoardCallback", "TrainerCallback", "TrainerControl", "TrainerState",
           "DataCollatorForLanguageModeling", "DataCollatorForSeq2Seq", "DataCollatorForTokenClassification",
           "DataCollatorForWholeWordMask", "DataCollatorWithPadding", "DefaultDataCollator", "default_data_collator",
           "Adafactor", "AdafactorSchedule", "AdamW", "get_adafactor_schedule", "get_constant_schedule",
           "get_constant_schedule_with_warmup", "get_cosine_schedule_with_warmup",
           "get_cosine_with_hard_restarts_schedule_with_warmup", "get_cosine_with_min_lr_schedule_with_warmup",
           "get_inverse_sqrt_schedule", "get_linear_schedule_with_warmup",
           "get_polynomial_decay_schedule_with_warmup", "get_reduce_on_plateau_schedule", "get_scheduler",
           "get_wsd_schedule", "Seq2SeqTrainer", "Trainer", "EvalPrediction", "HubStrategy", "IntervalStrategy",
           "PredictionOutput", "SaveStrategy", "SchedulerType", "TrainOutput", "enable_full_determinism",
           "get_last_checkpoint", "set_seed", "torch_distributed_zero_first", "Seq2SeqTrainingArguments",
           "TrainingArguments", "HfArgumentParser"]
