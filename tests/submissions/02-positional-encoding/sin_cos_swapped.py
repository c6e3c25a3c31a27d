"""Wrong: cos in the even dimensions and sin in the odd ones. Expected: loses points.

Message: sin and cos are swapped
"""

# %% [positional_encoding] replace
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles)
# %% with
        table[:, 0::2] = torch.cos(angles)  # WRONG: swapped
        table[:, 1::2] = torch.sin(angles)
