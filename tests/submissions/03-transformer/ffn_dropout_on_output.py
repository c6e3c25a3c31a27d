"""Wrong: dropout on the output of linear2 instead of the hidden activations. Expected: loses points.

Message: the input of linear2 (training mode): no dropout in training mode
"""

# %% [feed_forward] replace
        hidden = self.dropout(act(self.linear1(x)))
        return self.linear2(hidden)
# %% with
        hidden = act(self.linear1(x))
        return self.dropout(self.linear2(hidden))  # WRONG: dropout after linear2
