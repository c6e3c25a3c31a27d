"""Wrong: the dropout is created but never applied in forward. Expected: loses points.

Message: apply torch.nn.Dropout(p)
"""

# %% [positional_encoding] replace
        return self.dropout(tokens + self.pe[:, :seq_len])
# %% with
        return tokens + self.pe[:, :seq_len]  # WRONG: no dropout
