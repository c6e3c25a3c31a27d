"""Correct alternative: PyTorch's cross_entropy with ignore_index. Expected: full marks."""

# %% [sequence_loss]
def sequence_loss(logits: torch.Tensor, labels: torch.Tensor, pad_index: int = PAD_INDEX,
                  label_smoothing: float = 0.0) -> torch.Tensor:
    vocab_size = logits.size(-1)
    return F.cross_entropy(logits.reshape(-1, vocab_size), labels.reshape(-1), ignore_index=pad_index,
                           label_smoothing=label_smoothing)
