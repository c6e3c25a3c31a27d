"""Wrong: tie_embeddings ignored, the output layer always has its own matrix. Expected: loses points.

Message: shares the target embedding's matrix
"""

# %% [transformer] replace
        if tie_embeddings:
            self.output.weight = self.target_embedding.weight
# %% with
