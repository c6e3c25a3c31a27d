"""Wrong: the (batch, src_len) mask is passed to attention without reshaping it to (batch, 1, 1, src_len). Expected: loses points.

Message: mask[:, None, None, :]
Message: (batch, 1, 1, src_len)
Message: raised RuntimeError
"""

# %% [mha] replace
        keep = None if mask is None else mask[:, None, None, :]
# %% with
        keep = mask  # WRONG: mask ~ (batch, src_len) is not reshaped
