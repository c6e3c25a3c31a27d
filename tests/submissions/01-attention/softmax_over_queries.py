"""Wrong: softmax over the queries axis (dim=-2) instead of the keys (dim=-1). Expected: loses points.

Message: It must run over the keys, dim=-1
"""

# %% [sdpa] replace
    attention = torch.softmax(scores, dim=-1)
# %% with
    attention = torch.softmax(scores, dim=-2)  # WRONG: the queries axis
