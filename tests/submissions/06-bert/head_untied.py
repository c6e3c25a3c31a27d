"""Wrong: the embedding passed to MLMHead is ignored: the decoder has weights of its own. Expected: loses points.
Message: embedding.weight itself
"""

# %% [mlm_head] replace
        if embedding is not None:
            self.decoder.weight = embedding.weight
# %% with
