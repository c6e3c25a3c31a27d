"""Wrong: the mean is taken over every position, padding included.
Expected: loses points.
Message: divide by the number of real tokens
"""

# %% [sequence_loss]
def sequence_loss(logits: torch.Tensor, labels: torch.Tensor, pad_index: int = PAD_INDEX,
                  label_smoothing: float = 0.0) -> torch.Tensor:
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * log_probs.mean(dim=-1)
    return nll.mean()  # WRONG: padded positions count too
