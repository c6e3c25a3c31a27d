"""Correct: the buffer has shape (max_len, hidden_size); forward slices pe[:seq_len]; dropout always an nn.Dropout. Expected: full marks."""

# %% [positional_encoding] replace
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
        self.dropout = torch.nn.Dropout(p=dropout) if dropout else torch.nn.Identity()
# %% with
        self.register_buffer("pe", table)                                       # (max_len, hidden_size)
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)

# %% [positional_encoding] replace
        return self.dropout(tokens + self.pe[:, :seq_len])
# %% with
        return self.dropout(tokens + self.pe[:seq_len])
