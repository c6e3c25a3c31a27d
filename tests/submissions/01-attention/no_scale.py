"""Wrong: the scores are not divided by sqrt(d). Expected: loses points.

Message: the scores were not divided by sqrt(d)
"""

# %% [sdpa] replace
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
# %% with
    scores = query @ key.transpose(-2, -1)  # WRONG: no / math.sqrt(d)
