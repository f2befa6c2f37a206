"""The recurrent state: every slot of every registry model reaches the output, and the torch
backend's in-place state update (its CUDA-graph path) equals eager stepping.

Equivalence tests are only as strong as what reaches their output: with default weights KSNet's
offset heads are zero, and perturbing f_prev or g1_prev changed the HR frame by exactly 0.0; with
`randomize_every_parameter` every slot of every model reaches it. (Slots that only feed a flow
network reach it weakly, ~1e-7 to 1e-5 for FRVSR, TecoGAN and VESPCN: random flow heads give
near-zero flows. The ping-pong test below compares exactly, so it sees those too.)"""

import pytest
import torch
from conftest import SHALLOW
from helpers import randomize_every_parameter, shape_of

from repvsr_deploy.clips import moving_clip
from repvsr_deploy.models import build_model, model_names
from repvsr_deploy.models.base import BidirectionalVSRModel, zero_state
from repvsr_deploy.runtime.torch_backend import PingPongState

HW = (36, 44)  # above every model's minimum, a multiple of every size multiple


def random_model(name: str):
    """The model with fewer of its repeated blocks (SHALLOW), the same state: EDVR-M keeps its window."""
    torch.manual_seed(0)
    config = {key: value for key, value in SHALLOW.get(name, {}).items() if key != "frames"}
    return randomize_every_parameter(build_model(name, **config)).eval()


def graphs(model):
    """(graph, step method, state specs, extra inputs) of each of a model's step graphs."""
    return [
        (kind, model.graph_method(kind), model.states_of(kind), len(kind.inputs) - 1) for kind in model.graphs.kinds
    ]


@pytest.mark.parametrize("name", model_names())
@torch.no_grad()
def test_every_state_slot_reaches_the_output_within_two_steps(name):
    model = random_model(name)
    clip = torch.from_numpy(moving_clip(4, *HW))[:, None]
    feature = torch.rand(1, getattr(model, "channels", 64), *HW)  # the forward sweep's input from the backward
    for graph, method, specs, features in graphs(model):
        extra = [feature] * features

        def run(state, frames):
            outputs = []
            for lr in frames:
                out, *state = method(lr, *extra, *state)
                outputs.append(out)
            return outputs

        state = zero_state(clip[0], specs)
        for lr in clip[:2]:  # a state that is not zero
            _, *state = method(lr, *extra, *state)
        reference = run(state, clip[2:])
        for index, spec in enumerate(specs):
            perturbed = [s + 0.5 * torch.randn_like(s) if i == index else s for i, s in enumerate(state)]
            changes = [float((a - b).abs().max()) for a, b in zip(run(perturbed, clip[2:]), reference)]
            # CPU stepping is deterministic: any difference is the slot's
            assert max(changes) > 0, f"{name} {graph}: state slot {spec.name} does not reach the output"


@pytest.mark.parametrize("name", [n for n in model_names() if not isinstance(shape_of(n), BidirectionalVSRModel)])
@torch.no_grad()
def test_ping_pong_state_update_equals_eager_stepping(name):
    """The update rule the CUDA graphs replay, run on the CPU: read one set, write the other."""
    model = random_model(name)
    clip = torch.from_numpy(moving_clip(5, *HW))[:, None]
    state = model.init_state(clip[0])
    states = PingPongState(state)
    for lr in clip:
        expected, *state = model.step(lr, *state)
        got = states.advance(model.step, lr)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        for held, eager in zip(states.state, state):
            torch.testing.assert_close(held, eager, rtol=0, atol=0)
