"""Correct alternative: tokens kept in one tensor, a finished mask, cut at <end> at the end. Expected: full marks."""

# %% [greedy_decode]
def greedy_decode(model, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  max_len: Optional[int] = None) -> List[List[int]]:
    max_len = max_len or default_max_len(source_mask)
    batch = source_tokens.size(0)
    encoder_output = model.encode(source_tokens, source_mask)
    tokens = torch.full((batch, 1), SOS_INDEX, dtype=torch.long, device=source_tokens.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source_tokens.device)
    state = None
    for _ in range(max_len):
        logits, state = model.decode_step(tokens[:, -1], encoder_output, state)
        next_token = logits.argmax(dim=-1).masked_fill(finished, PAD_INDEX)
        tokens = torch.cat([tokens, next_token.unsqueeze(1)], dim=1)
        finished |= next_token.eq(EOS_INDEX)
        if finished.all():
            break
    outputs = []
    for row in tokens[:, 1:].tolist():
        row = [t for t in row if t != PAD_INDEX]
        outputs.append(row[:row.index(EOS_INDEX)] if EOS_INDEX in row else row)
    return outputs
