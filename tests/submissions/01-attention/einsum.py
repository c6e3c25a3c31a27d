"""Correct: scores and weighted sum with torch.einsum. Expected: full marks."""

# %% [sdpa] replace
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
# %% with
    scores = torch.einsum("...td,...sd->...ts", query, key) / math.sqrt(d)

# %% [sdpa] replace
    values = (attention if dropout is None else dropout(attention)) @ value
# %% with
    weights = attention if dropout is None else dropout(attention)
    values = torch.einsum("...ts,...sv->...tv", weights, value)
