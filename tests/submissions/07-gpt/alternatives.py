"""Correct alternative: batches built with pad_sequence, nucleus by masking in sorted order and indexing back, generate with an explicit cache flag and torch.where. Expected: full marks."""

# %% [next_token_batch]
def next_token_batch(sequences, boundary_id, pad_id, block_size):
    from torch.nn.utils.rnn import pad_sequence
    rows = [torch.tensor([boundary_id, *ids, boundary_id][:block_size + 1]) for ids in sequences]
    inputs = pad_sequence([r[:-1] for r in rows], batch_first=True, padding_value=pad_id)
    labels = pad_sequence([r[1:] for r in rows], batch_first=True, padding_value=IGNORE_INDEX)
    return inputs, labels

# %% [sampling_filters] replace
    probabilities = torch.softmax(logits, dim=-1)
    sorted_probabilities, order = probabilities.sort(dim=-1, descending=True)
    before = sorted_probabilities.cumsum(dim=-1) - sorted_probabilities   # mass of the more likely tokens
    remove_sorted = before >= p                                           # ~ (..., vocab), in sorted order
    remove = remove_sorted.scatter(-1, order, remove_sorted)              # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))
# %% with
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    keep_sorted = torch.cat([torch.ones_like(cumulative[..., :1], dtype=torch.bool), cumulative[..., :-1] < p], dim=-1)
    inverse = order.argsort(dim=-1)
    keep = keep_sorted.gather(-1, inverse)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))
