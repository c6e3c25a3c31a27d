"""Wrong: the dropout is created but never applied. Expected: loses points.

Message: two calls must give different outputs
"""

# %% [feed_forward] replace
        hidden = self.dropout(act(self.linear1(x)))
# %% with
        hidden = act(self.linear1(x))  # WRONG: no dropout
