"""Wrong: the model is run as it is, in training mode (dropout on) and with gradients. Expected: loses points.
Message: eval mode
"""

# %% [fill_mask] replace
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(ids, mask)[0, positions[0]]            # ~ (vocab_size,)
    finally:
        model.train(was_training)
# %% with
    logits = model(ids, mask)[0, positions[0]].detach()  # WRONG: dropout active in training mode
