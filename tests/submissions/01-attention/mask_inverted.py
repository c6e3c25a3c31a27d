"""Wrong: the mask is inverted (masks the True = real positions). Expected: loses points.

Message: Is the mask inverted?
"""

# %% [sdpa] replace
        scores = scores.masked_fill(~mask, fill_value)
# %% with
        scores = scores.masked_fill(mask, fill_value)  # WRONG: True = may attend
