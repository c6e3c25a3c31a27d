"""Wrong: random replacements drawn up to the largest id of the batch, special tokens included. Expected: loses points.
Message: ordinary ids
"""

# %% [mask_tokens] replace
    random_ids = torch.randint(num_ordinary, ids.shape, generator=generator, device=ids.device)
# %% with
    random_ids = torch.randint(int(ids.max()) + 1, ids.shape, generator=generator, device=ids.device)  # WRONG
