"""Wrong: the loss summed over labelled positions but divided by every position. Expected: loses points.
Message: divided by every position
"""

# %% [mlm_loss] replace
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
# %% with
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX,
                            reduction="sum")
    return total / labels.numel()  # WRONG: the -100 positions count in the mean
