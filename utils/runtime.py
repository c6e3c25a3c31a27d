"""Where and how the notebooks run: device, seeds, smoke mode."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

SMOKE_ENV = "COURSE_SMOKE"


def get_device() -> torch.device:
    """CUDA when a GPU is there, else the CPU -- no code change needed either way."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def smoke_mode() -> bool:
    """True when ``COURSE_SMOKE=1``: notebooks then use tiny data and a few steps (CI)."""
    return os.environ.get(SMOKE_ENV, "").strip().lower() not in ("", "0", "false", "no")
