"""Wrong: fill_mask returns the logits of the k best tokens, not their probabilities. Expected: loses points.
Message: softmax of the logits
"""

# %% [fill_mask] replace
    top = torch.softmax(logits.float(), dim=-1).topk(k)
# %% with
    top = logits.float().topk(k)  # WRONG: scores, not probabilities
