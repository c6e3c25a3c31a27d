"""Correct: written differently (init through .data, ** 0.5, masks with torch.tril, a loop helper). Expected: full marks.
"""

# %% [transformer] replace
            # N(0, 1/d), times sqrt(d) on the way in: inputs of unit scale, and (tied) logits of a sane scale.
            torch.nn.init.normal_(embedding.weight, std=hidden_size ** -0.5)
            with torch.no_grad():
                embedding.weight[padding_index].zero_()
# %% with
            embedding.weight.data.normal_(0.0, 1.0 / hidden_size ** 0.5)
            embedding.weight.data[padding_index] = 0.0

# %% [transformer] replace
        layer = dict(hidden_size=hidden_size, num_heads=num_heads, ffn_size=ffn_size, dropout=dropout,
                     norm_first=norm_first, activation=activation)
        self.encoder_layers = torch.nn.ModuleList(EncoderLayer(**layer) for _ in range(num_encoder_layers))
        self.decoder_layers = torch.nn.ModuleList(DecoderLayer(**layer) for _ in range(num_decoder_layers))
# %% with
        self.encoder_layers = torch.nn.ModuleList([
            EncoderLayer(hidden_size, num_heads, ffn_size, dropout, norm_first, activation)
            for _ in range(num_encoder_layers)])
        self.decoder_layers = torch.nn.ModuleList([
            DecoderLayer(hidden_size, num_heads, ffn_size, dropout, norm_first, activation)
            for _ in range(num_decoder_layers)])

# %% [transformer] replace
        x = self.positional_encoding(self.source_embedding(source_tokens) * math.sqrt(self.hidden_size))
# %% with
        x = self.positional_encoding(self.source_embedding(source_tokens) * self.hidden_size ** 0.5)

# %% [transformer] replace
            target_mask = causal_mask(target_tokens.size(1), device=target_tokens.device)
        y = self.positional_encoding(self.target_embedding(target_tokens) * math.sqrt(self.hidden_size))
# %% with
            length = target_tokens.size(1)
            target_mask = torch.tril(torch.ones(length, length, device=target_tokens.device)).bool()
        y = self.positional_encoding(self.target_embedding(target_tokens) * self.hidden_size ** 0.5)
