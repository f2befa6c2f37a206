"""What our custom ops (`torch.ops.repvsr.*`) share: autograd by the VJP of their plain-torch reference."""

import torch


def differentiate_by_reference(op, reference, tensors: int) -> None:
    """Autograd for a custom op whose first `tensors` arguments are tensors: the VJP of its reference."""

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs[:tensors])
        ctx.attributes = inputs[tensors:]

    def backward(ctx, grad):
        _, vjp = torch.func.vjp(lambda *t: reference(*t, *ctx.attributes), *ctx.saved_tensors)
        return (*vjp(grad), *[None] * len(ctx.attributes))

    op.register_autograd(backward, setup_context=setup_context)
