"""Wrong: padding positions get pad_id as their label instead of -100, so the loss trains on padding. Expected: loses points.
Message: pad labels with -100
"""

# %% [next_token_batch] replace
    labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
# %% with
    labels = torch.full((len(rows), longest), pad_id, dtype=torch.long)  # WRONG: padding is a label
