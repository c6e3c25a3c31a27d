"""Wrong: labels on every position (labels = ids), not -100 where nothing was chosen. Expected: loses points.
Message: -100
"""

# %% [mask_tokens] replace
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
# %% with
    labels = ids.clone()  # WRONG: the loss would also learn to copy every visible token
