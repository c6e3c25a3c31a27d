"""Wrong: forward adds the whole table of max_len rows, not its first seq_len rows: a shape error inside forward. Expected: loses points.

Message: calling PositionalEncoding(...)(tensor(1, 3, 4) float32)
Message: self.pe[:, :seq_len]
Message: not the whole table
"""

# %% [positional_encoding] replace
        return self.dropout(tokens + self.pe[:, :seq_len])
# %% with
        return self.dropout(tokens + self.pe)  # WRONG: all max_len rows
