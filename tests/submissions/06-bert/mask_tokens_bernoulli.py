"""Correct alternative: Bernoulli draws one after the other (the Hugging Face collator's way). Expected: full marks."""

# %% [mask_tokens]
def mask_tokens(ids, special_mask, generator, *, mask_id, num_ordinary, probability=0.15):
    probabilities = torch.full(ids.shape, probability)
    probabilities.masked_fill_(special_mask, 0.0)
    chosen = torch.bernoulli(probabilities, generator=generator).bool()
    labels = ids.clone()
    labels[~chosen] = -100
    inputs = ids.clone()
    to_mask = torch.bernoulli(torch.full(ids.shape, 0.8), generator=generator).bool() & chosen
    inputs[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    random_words = torch.randint(num_ordinary, ids.shape, dtype=torch.long, generator=generator)
    inputs[to_random] = random_words[to_random]
    return inputs, labels
