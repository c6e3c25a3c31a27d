"""Correct: frequencies as 1 / 10000 ** (2i / d) with a power instead of exp/log. Expected: full marks."""

# %% [positional_encoding]
class PositionalEncoding(torch.nn.Module):

    def __init__(self, hidden_size: int, dropout: Optional[float], max_len: int = 5000) -> None:
        super().__init__()
        if hidden_size % 2 != 0:
            raise ValueError(f"hidden_size must be even (sin/cos pairs), got {hidden_size}")
        self.hidden_size = hidden_size
        self.max_len = max_len
        # Compute the table once, in log space, register it as a buffer, and create the dropout.
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
        # omega_i = 10000^(-2i / d) = exp(-2i * ln(10000) / d)
        frequencies = 1.0 / 10000 ** (torch.arange(0, hidden_size, 2, dtype=torch.float32) / hidden_size)           # (hidden_size / 2,)
        angles = position * frequencies                                          # (max_len, hidden_size / 2)
        table = torch.zeros(max_len, hidden_size)
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles)
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
        self.dropout = torch.nn.Dropout(p=dropout) if dropout else torch.nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq_len = tokens.size(1)
        if seq_len > self.max_len:
            raise ValueError(f"sequence of {seq_len} tokens is longer than max_len={self.max_len}")
        # pe[:, :seq_len] ~ (1, seq_len, hidden_size) broadcasts over the batch
        return self.dropout(tokens + self.pe[:, :seq_len])
