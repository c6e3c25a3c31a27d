"""Wrong: the embeddings keep nn.Embedding's N(0, 1) initialisation. Expected: loses points.

Message: must start from N(0, 1/hidden_size)
"""

# %% [transformer] replace
        for embedding in (self.source_embedding, self.target_embedding):
            # N(0, 1/d), times sqrt(d) on the way in: inputs of unit scale, and (tied) logits of a sane scale.
            torch.nn.init.normal_(embedding.weight, std=hidden_size ** -0.5)
            with torch.no_grad():
                embedding.weight[padding_index].zero_()
# %% with
