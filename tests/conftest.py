"""Fixtures shared by the model, training and decoding tests (the tiny hand-written corpus)."""
from pathlib import Path

import pytest
import torch

from utils import normalize
from utils.data import read_raw_pairs

TINY = Path(__file__).resolve().parent / "data" / "tiny_fra_eng.txt"


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread, and much faster on a busy machine (no OpenMP waits)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def pairs():
    """The tiny corpus as normalised (french, english) pairs."""
    return [(normalize(french), normalize(english)) for english, french in read_raw_pairs(TINY)]
