"""Wrong: the positional encoding is created but never added. Expected: loses points.

Message: positional encoding was skipped
"""

# %% [transformer] replace
        x = self.positional_encoding(self.source_embedding(source_tokens) * math.sqrt(self.hidden_size))
# %% with
        x = self.source_embedding(source_tokens) * math.sqrt(self.hidden_size)  # WRONG: no positions

# %% [transformer] replace
        y = self.positional_encoding(self.target_embedding(target_tokens) * math.sqrt(self.hidden_size))
# %% with
        y = self.target_embedding(target_tokens) * math.sqrt(self.hidden_size)  # WRONG: no positions
