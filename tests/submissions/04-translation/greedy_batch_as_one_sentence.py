"""Wrong: the batch is handled as one sentence: all stop when the first one produces <end>.
Expected: loses points.
Message: Each sentence stops at its own first <end>
"""

# %% [greedy_decode]
def greedy_decode(model, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  max_len: Optional[int] = None) -> List[List[int]]:
    """Translate a batch by taking the most likely next word at every step.

    Parameters
    ----------
    model : `Seq2Seq`
        Any translator of the course: ``model.encode`` and ``model.decode_step``.
    source_tokens, source_mask : ~ (batch, src_len)
        French word indices (padded) and True for real tokens, on the model's device.
    max_len : `int`, optional (default = ``default_max_len(source_mask)``)
        Most words generated per sentence, ``<end>`` included.

    Returns
    -------
    One list of word indices per sentence, in the batch's order: the words before its first
    ``<end>`` (without ``<start>`` and ``<end>``).
    """
    if max_len is None:
        max_len = default_max_len(source_mask)
    batch_size = source_tokens.size(0)
    encoder_output = model.encode(source_tokens, source_mask)
    tokens = torch.full((batch_size,), SOS_INDEX, dtype=torch.long, device=source_tokens.device)  # (batch,)
    outputs = [[] for _ in range(batch_size)]
    finished = [False] * batch_size
    state = None
    for _ in range(max_len):
        # logits ~ (batch, target vocabulary): the scores of every sentence's next word
        logits, state = model.decode_step(tokens, encoder_output, state)
        tokens = logits.argmax(dim=-1)  # tokens ~ (batch,)
        for i, token in enumerate(tokens.tolist()):
            if finished[i]:
                continue  # whatever comes after <end> is not part of the translation
            if token == EOS_INDEX:
                finished[i] = True
            else:
                outputs[i].append(token)
        if any(finished):  # WRONG: one sentence's <end> ends every sentence
            break
    return outputs
