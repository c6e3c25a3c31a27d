"""Wrong: dropout applied to the attention output values instead of the attention weights. Expected: loses points.

Message: it must get the attention weights
Message: raised AssertionError
"""

# %% [mha]
class MultiHeadAttention(torch.nn.Module):
    """
    Multi-head attention of "Attention Is All You Need" (Vaswani et al., 2017).

    Query, key and value are projected to ``hidden_size`` features and split into ``num_heads``
    heads of ``hidden_size // num_heads`` features; every head runs scaled dot-product attention;
    the heads are merged back and projected to ``output_size`` features.

    Parameters
    ----------
    num_heads : int
        Number of attention heads; must divide ``hidden_size``.
    hidden_size : int
        Size of the input vectors and of the query, key and value projections.
    bias : bool, optional (default = True)
        Whether the Linear layers (the three projections and the output) have a bias.
    dropout : float, optional (default = 0.1)
        Dropout probability for the attention weights after the softmax (training mode only).
        None or 0 means no dropout.
    output_size : int, optional (default = None)
        Size of the output projection. None means ``hidden_size``.
    attention_fill_value : float, optional (default = -inf)
        Score given to masked (padding) keys before the softmax: -inf or a large negative number.

    Attributes
    ----------
    projections : torch.nn.ModuleDict
        "query", "key", "value": ``torch.nn.Linear(hidden_size, hidden_size, bias=bias)``.
    output : torch.nn.Linear
        ``torch.nn.Linear(hidden_size, output_size or hidden_size, bias=bias)``.
    """

    def __init__(
        self,
        num_heads: int,
        hidden_size: int,
        bias: bool = True,
        dropout: float = 0.1,
        output_size: int = None,
        attention_fill_value: float = float("-inf"),
    ) -> None:
        super().__init__()
        if hidden_size % num_heads != 0:
            raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.attn_size = hidden_size // num_heads   # features per head
        self.attention_fill_value = attention_fill_value
        # Create self.projections, self.output and the dropout of the attention weights.
        self.projections = torch.nn.ModuleDict({
            name: torch.nn.Linear(hidden_size, hidden_size, bias=bias) for name in ("query", "key", "value")
        })
        self.output = torch.nn.Linear(hidden_size, output_size or hidden_size, bias=bias)
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
    ) -> MultiHeadAttentionOutput:
        """
        Attend from every query position to the key/value positions, in every head.

        Parameters
        ----------
        query : torch.Tensor ~ (batch, tgt_len, hidden_size)
        key : torch.Tensor ~ (batch, src_len, hidden_size)
        value : torch.Tensor ~ (batch, src_len, hidden_size)
        mask : torch.BoolTensor ~ (batch, src_len), optional
            True for real tokens, False for padding: padding keys get attention weight 0.
        attn_mask : torch.BoolTensor, optional
            Which query may attend to which key, True = may attend: ~ (tgt_len, src_len) (the
            same for every sequence, e.g. a causal mask), (batch, tgt_len, src_len) (one per
            sequence) or (batch, num_heads, tgt_len, src_len). Combined with ``mask`` when both
            are given: a key is attended to only where both say True.
            Every query must keep at least one key.

        Returns
        -------
        MultiHeadAttentionOutput
            values ~ (batch, tgt_len, output_size);
            attention ~ (batch, num_heads, tgt_len, src_len): the weights of every head after the
            softmax and before dropout (every row sums to 1).
        """
        batch_size, tgt_len, _ = query.shape
        src_len = key.size(1)
        # 1) Project, then split the features into heads:
        #    (batch, len, hidden) -> (batch, len, heads, attn_size) -> (batch, heads, len, attn_size)
        # q ~ (batch, heads, tgt_len, attn_size); k, v ~ (batch, heads, src_len, attn_size)
        def split_heads(x: torch.Tensor, length: int) -> torch.Tensor:
            return x.view(batch_size, length, self.num_heads, self.attn_size).transpose(1, 2)

        q = split_heads(self.projections["query"](query), tgt_len)
        k = split_heads(self.projections["key"](key), src_len)
        v = split_heads(self.projections["value"](value), src_len)
        # 2) Attention in all heads at once, with scaled_dot_product_attention from TODO 1.
        #    mask ~ (batch, src_len) -> (batch, 1, 1, src_len) broadcasts over heads and queries;
        #    attn_mask ~ (batch, tgt_len, src_len) -> (batch, 1, tgt_len, src_len) over the heads
        #    ((tgt_len, src_len) and 4-D masks broadcast as they are); both together: a & b.
        # scores, attention ~ (batch, heads, tgt_len, src_len); values ~ (batch, heads, tgt_len, attn_size)
        keep = None if mask is None else mask[:, None, None, :]
        if attn_mask is not None:
            attn_mask = attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask
            keep = attn_mask if keep is None else keep & attn_mask
        # nn.Dropout acts in training mode only: the weights are dropped before they average the values.
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value)
        # 3) Merge the heads and project:
        #    (batch, heads, tgt_len, attn_size) -> (batch, tgt_len, hidden) -> (batch, tgt_len, output_size)
        values = values.transpose(1, 2).reshape(batch_size, tgt_len, self.num_heads * self.attn_size)
        values = self.dropout(values)  # WRONG: drops value features, not attention weights
        values = self.output(values)
        return MultiHeadAttentionOutput(values, attention)
