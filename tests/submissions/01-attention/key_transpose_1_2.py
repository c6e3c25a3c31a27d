"""Wrong: key.transpose(1, 2), right for 3-D inputs only (a shape error with 4-D ones). Expected: loses points.

Message: key.transpose(-2, -1)
Message: key.transpose(1, 2)
Message: raised RuntimeError
"""

# %% [sdpa] replace
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
# %% with
    scores = query @ key.transpose(1, 2) / math.sqrt(d)  # WRONG: 3-D only
