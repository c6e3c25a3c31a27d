"""Correct: masked scores replaced with torch.where, dropout applied in an if. Expected: full marks."""

# %% [sdpa] replace
        scores = scores.masked_fill(~mask, fill_value)
# %% with
        scores = torch.where(mask, scores, torch.full_like(scores, fill_value))

# %% [sdpa] replace
    values = (attention if dropout is None else dropout(attention)) @ value
# %% with
    weights = attention
    if dropout is not None:
        weights = dropout(weights)
    values = weights @ value
