"""Wrong: masked scores always get -inf, whatever fill_value says. Expected: loses points.

Message: the fill_value argument was ignored
Message: fill_value=-2.0
"""

# %% [sdpa] replace
        scores = scores.masked_fill(~mask, fill_value)
# %% with
        scores = scores.masked_fill(~mask, float("-inf"))  # WRONG: fill_value ignored
