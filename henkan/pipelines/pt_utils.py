"""Views of a dataset of records that feed a pipeline one field (or a pair of fields) per item."""

from __future__ import annotations


class KeyDataset:
    """`dataset[i][key]` as item i: `pipe(KeyDataset(dataset, "text"))` classifies a dataset's text column."""

    def __init__(self, dataset, key: str):
        self.dataset, self.key = dataset, key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i][self.key]

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class KeyPairDataset:
    """`{"text": dataset[i][key1], "text_pair": dataset[i][key2]}` as item i, for pair classification."""

    def __init__(self, dataset, key1: str, key2: str):
        self.dataset, self.key1, self.key2 = dataset, key1, key2

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return {"text": self.dataset[i][self.key1], "text_pair": self.dataset[i][self.key2]}

    def __iter__(self):
        return (self[i] for i in range(len(self)))
