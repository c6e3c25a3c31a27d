"""Correct alternative: the loss from log_softmax and gather, fill_mask with log-probabilities and sorted(). Expected: full marks."""

# %% [mlm_loss]
def mlm_loss(logits, labels):
    logits, labels = logits.reshape(-1, logits.size(-1)), labels.reshape(-1)
    keep = labels != IGNORE_INDEX
    log_probabilities = torch.log_softmax(logits[keep], dim=-1)
    return -log_probabilities.gather(1, labels[keep].unsqueeze(1)).squeeze(1).mean()

# %% [fill_mask]
def fill_mask(model, tokenizer, text, k=5):
    if text.count("[MASK]") != 1:
        raise ValueError("exactly one [MASK], please")
    ids, mask = encode_batch(tokenizer, [text])
    device = next(model.parameters()).device
    position = ids[0].tolist().index(tokenizer.special_ids["[MASK]"])
    mode = model.training
    model.train(False)
    with torch.inference_mode():
        scores = model(ids.to(device), mask.to(device))[0, position]
    model.train(mode)
    log_p = torch.log_softmax(scores.double(), -1)
    best = sorted(range(len(log_p)), key=lambda i: -log_p[i].item())[:k]
    return [(tokenizer.decode([i]), math.exp(log_p[i].item())) for i in best]
