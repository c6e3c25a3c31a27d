"""Wrong: the embeddings are not multiplied by sqrt(hidden_size). Expected: loses points.

Message: not multiplied by sqrt(hidden_size)
"""

# %% [transformer] replace
        x = self.positional_encoding(self.source_embedding(source_tokens) * math.sqrt(self.hidden_size))
# %% with
        x = self.positional_encoding(self.source_embedding(source_tokens))  # WRONG: no sqrt(d)

# %% [transformer] replace
        y = self.positional_encoding(self.target_embedding(target_tokens) * math.sqrt(self.hidden_size))
# %% with
        y = self.positional_encoding(self.target_embedding(target_tokens))  # WRONG: no sqrt(d)
