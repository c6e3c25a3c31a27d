"""Wrong: no activation between linear1 and linear2. Expected: loses points.

Message: no activation between linear1 and linear2
"""

# %% [feed_forward]
class FeedForward(torch.nn.Module):
    """
    The position-wise feed-forward network: the same two-layer MLP applied to every token on its own.

    ``FFN(x) = linear2(dropout(activation(linear1(x))))``

    Parameters
    ----------
    hidden_size : int
        Size of the token vectors (in and out).
    ffn_size : int
        Size of the hidden layer (usually 4 * hidden_size).
    dropout : float, optional (default = 0.1)
        Dropout on the hidden activations (training mode only). None or 0 means none.
    activation : str, optional (default = "relu")
        "relu" or "gelu".

    Attributes
    ----------
    linear1 : torch.nn.Linear(hidden_size, ffn_size)
    linear2 : torch.nn.Linear(ffn_size, hidden_size)
    """

    def __init__(self, hidden_size: int, ffn_size: int, dropout: Optional[float] = 0.1,
                 activation: str = "relu") -> None:
        super().__init__()
        if activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.activation = activation
        # Create self.linear1, self.linear2 and self.dropout.
        self.linear1 = torch.nn.Linear(hidden_size, ffn_size)
        self.linear2 = torch.nn.Linear(ffn_size, hidden_size)
        self.dropout = torch.nn.Dropout(dropout or 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x ~ (batch, length, hidden_size) -> (batch, length, hidden_size)."""
        # linear2(dropout(activation(linear1(x)))), the activation as self.activation says
        act = torch.nn.functional.relu if self.activation == "relu" else torch.nn.functional.gelu
        # hidden ~ (batch, length, ffn_size)
        hidden = self.dropout(self.linear1(x))  # WRONG: no activation
        return self.linear2(hidden)
