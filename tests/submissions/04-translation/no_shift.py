"""Wrong: the seed's bug, labels are the decoder input itself (no shift).
Expected: loses points.
Message: are labels and input the same tokens (no shift)
"""

# %% [shift_targets]
def shift_targets(target_tokens: torch.Tensor):
    decoder_input = target_tokens[:, :-1]
    labels = target_tokens[:, :-1]  # WRONG: the same tokens, the model learns to copy
    return decoder_input, labels
