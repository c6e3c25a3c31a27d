"""Wrong: top-k keeps k + 1 tokens (the threshold is the (k+1)-th largest). Expected: loses points.
Message: top_k_filter(k=1)
"""

# %% [sampling_filters] replace
    kth = logits.topk(k, dim=-1).values[..., -1:]                  # ~ (..., 1): the k-th largest of each row
# %% with
    kth = logits.topk(min(k + 1, logits.shape[-1]), dim=-1).values[..., -1:]  # WRONG: one too many
