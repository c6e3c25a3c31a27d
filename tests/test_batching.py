"""Vocabulary, NMTDataset and CollateBatch."""
from pathlib import Path

import pytest
import torch

import utils
from utils import CollateBatch, NMTDataset, Vocabulary
from utils.vocab import EOS_INDEX, PAD_INDEX, SOS_INDEX, UNK_INDEX

TRAIN = [("je suis grand .", "i am tall ."), ("il est grand .", "he is tall ."), ("je suis la .", "i am here .")]


def test_special_tokens_have_fixed_indices():
    vocab = Vocabulary(TRAIN)
    for field in ("source", "target"):
        assert [vocab.word2index[field][t] for t in (utils.PAD, utils.SOS, utils.EOS, utils.UNK)] == [0, 1, 2, 3]


def test_vocabulary_knows_only_training_words():
    vocab = Vocabulary(TRAIN)
    assert vocab.encode(["je", "suis", "fatigue"], "source")[-1] == UNK_INDEX
    assert vocab.decode(vocab.encode(["i", "am", "tall"], "target"), "target") == ["i", "am", "tall"]
    assert vocab.get_size("target") == 4 + len({"i", "am", "tall", ".", "he", "is", "here"})


def test_min_freq_maps_rare_words_to_unk():
    vocab = Vocabulary(TRAIN, min_freq=2)
    assert "grand" in vocab.word2index["source"] and "la" not in vocab.word2index["source"]
    assert vocab.encode(["la"], "source") == [UNK_INDEX]
    with pytest.raises(ValueError):
        Vocabulary(TRAIN, min_freq=0)


def test_vocabulary_round_trip():
    vocab = Vocabulary(TRAIN)
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again.word2index == vocab.word2index and again.index2word == vocab.index2word


def test_dataset_adds_start_and_end(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in TRAIN), encoding="utf-8")
    dataset = NMTDataset(path)
    assert dataset[0] == {"source": ["je", "suis", "grand", ".", "<end>"],
                          "target": ["<start>", "i", "am", "tall", ".", "<end>"]}
    dataset.index_with(Vocabulary(TRAIN))
    assert dataset[0]["target"][0] == SOS_INDEX and dataset[0]["target"][-1] == EOS_INDEX
    assert len(dataset) == 3


def test_collate_pads_and_masks():
    dataset = NMTDataset([("a b c", "x"), ("a", "x y z w")]).index_with(Vocabulary([("a b c", "x y z w")]))
    batch = CollateBatch([dataset[0], dataset[1]])
    assert batch.source_tokens.shape == (2, 4) and batch.target_tokens.shape == (2, 6)
    assert batch.source_tokens.dtype == torch.long
    assert batch.source_mask.dtype == torch.bool
    assert batch.source_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert (batch.source_tokens[~batch.source_mask] == PAD_INDEX).all()
    assert len(batch) == 2
    moved = batch.to_device("cpu")
    assert set(moved) == {"source_tokens", "target_tokens", "source_mask", "target_mask"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinning memory needs CUDA")
def test_pin_memory():
    dataset = NMTDataset(TRAIN).index_with(Vocabulary(TRAIN))
    assert CollateBatch([dataset[0]]).pin_memory().source_tokens.is_pinned()


def test_loader_batches_the_whole_dataset():
    dataset = NMTDataset(TRAIN).index_with(Vocabulary(TRAIN))
    batches = list(utils.make_loader(dataset, batch_size=2, shuffle=True, seed=0))
    assert [len(b) for b in batches] == [2, 1]
