"""Correct: the queries are scaled by 1/sqrt(d) before the product. Expected: full marks."""

# %% [sdpa] replace
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
# %% with
    scores = (query / math.sqrt(d)) @ key.transpose(-2, -1)
