"""Wrong: pre-norm without the final LayerNorms (created, never applied). Expected: loses points.

Message: final LayerNorms are missing
"""

# %% [transformer] replace
        return x if self.encoder_norm is None else self.encoder_norm(x)
# %% with
        return x  # WRONG: no final norm

# %% [transformer] replace
        if self.decoder_norm is not None:
            y = self.decoder_norm(y)
# %% with
