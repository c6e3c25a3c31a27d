"""Wrong: norm_first inverted (pre-norm computed for post-norm and back). Expected: loses points.

Message: LayerNorm is on the wrong side: norm_first=False asks for post-norm
"""

# %% [encoder_layer] replace
        if self.norm_first:
# %% with
        if not self.norm_first:  # WRONG: inverted
