"""Wrong: no activation between linear1 and linear2. Expected: loses points.

Message: no activation between linear1 and linear2
"""

# %% [feed_forward] replace
        hidden = self.dropout(act(self.linear1(x)))
# %% with
        hidden = self.dropout(self.linear1(x))  # WRONG: no activation
