"""Wrong: torch.nn.Dropout(p=dropout) also for dropout=None, which raises a TypeError inside __init__. Expected: loses points.

Message: calling PositionalEncoding(4, dropout=None
Message: TypeError
Message: torch.nn.Dropout(dropout or 0.0)
"""

# %% [positional_encoding] replace
        self.dropout = torch.nn.Dropout(p=dropout) if dropout else torch.nn.Identity()
# %% with
        self.dropout = torch.nn.Dropout(p=dropout)  # WRONG: dropout=None raises
