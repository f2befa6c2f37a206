"""The interface every video super-resolution model of the toolkit shares: what `build_model`
returns and what fusion, export and the sessions rely on."""

import torch
from torch import Tensor, nn

from ..modelinfo import BIDIRECTIONAL, STREAMING, GraphKind, GraphSet, ModelInfo, StateSpec


class VSRModel(nn.Module):
    """A recurrent VSR network: `step` maps one LR frame and the state to the HR frame and the next state.

    `step` is what gets exported; `forward` runs a whole clip for training.
    Subclasses set `state_specs` (named and ordered as `step`'s state arguments, and as the next
    state it returns) and may narrow `size_multiple` / `min_size`.
    """

    scale: int = 4
    size_multiple: int = 1  # H and W must divide by this; sessions pad and crop
    min_size: int = 8  # smallest H and W the network accepts
    delay: int = 0  # frames the HR output lags its LR input (a window centred on frame t - delay)
    state_specs: tuple[StateSpec, ...] = ()
    graphs: GraphSet = STREAMING  # what it exports
    registered_name: str = ""  # set by @register_model
    training_recipe: str = "ksnet"  # the paper recipe it trains with (train.recipes): KSNet's, for most

    def __init__(self):
        super().__init__()
        # the registry's name, also for a model built directly (KSNetUni()), so its checkpoint loads
        self.name = self.registered_name or type(self).__name__.lower()
        self.config: dict = {}
        self.fused = False

    def init_state(self, lr: Tensor) -> tuple[Tensor, ...]:
        """Zero state for a first frame shaped like `lr` [B, 3, H, W]."""
        return zero_state(lr, self.state_specs)

    def step(self, lr: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """One frame: returns (hr, *next_state)."""
        raise NotImplementedError

    def forward(self, lr_seq: Tensor) -> Tensor:
        """A clip [B, T, 3, H, W] -> [B, T, 3, sH, sW], stepping from a zero state."""
        state = self.init_state(lr_seq[:, 0])
        frames = []
        for t in range(lr_seq.shape[1]):
            hr, *state = self.step(lr_seq[:, t], *state)
            frames.append(hr)
        return torch.stack(frames, dim=1)

    def info(self, precision: str = "fp32", graph: GraphKind | None = None) -> ModelInfo:
        """One graph's interface as a runtime sees it (written into exported graphs); by default the
        graph that gives the HR frames."""
        graph = graph or self.graphs.last
        return ModelInfo(
            model=self.name,
            scale=self.scale,
            size_multiple=self.size_multiple,
            min_size=self.min_size,
            states=self.states_of(graph),
            fused=self.fused,
            precision=precision,
            config=self.config,
            graph=graph,
            delay=self.delay,
        )

    def states_of(self, graph: GraphKind) -> tuple[StateSpec, ...]:
        return self.state_specs

    def graph_method(self, graph: GraphKind):
        """The bound method that graph `graph` exports."""
        return getattr(self, graph.method)


def zero_state(lr: Tensor, specs: tuple[StateSpec, ...]) -> tuple[Tensor, ...]:
    batch, _, height, width = lr.shape
    return tuple(lr.new_zeros(batch, s.channels, height * s.scale, width * s.scale) for s in specs)


class BidirectionalVSRModel(VSRModel):
    """Cannot stream: a backward sweep over the clip computes a feature per frame, then a forward
    sweep turns each frame and its feature into the HR frame. Exported as two graphs."""

    graphs = BIDIRECTIONAL
    feature_channels: int = 0
    backward_state_specs: tuple[StateSpec, ...] = ()
    forward_state_specs: tuple[StateSpec, ...] = ()

    def backward_step(self, lr: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """One frame, latest first: returns (feature, *next_state)."""
        raise NotImplementedError

    def forward_step(self, lr: Tensor, feature: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """One frame, earliest first, with its backward feature: returns (hr, *next_state)."""
        raise NotImplementedError

    def step(self, lr: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        raise TypeError(f"{self.name} is bidirectional: it runs backward_step over a clip, then forward_step")

    def forward(self, lr_seq: Tensor) -> Tensor:
        frames = lr_seq.shape[1]
        features: list[Tensor] = [lr_seq] * frames
        state = zero_state(lr_seq[:, 0], self.backward_state_specs)
        for t in reversed(range(frames)):
            features[t], *state = self.backward_step(lr_seq[:, t], *state)
        state = zero_state(lr_seq[:, 0], self.forward_state_specs)
        hr = []
        for t in range(frames):
            frame, *state = self.forward_step(lr_seq[:, t], features[t], *state)
            hr.append(frame)
        return torch.stack(hr, dim=1)

    def states_of(self, graph: GraphKind) -> tuple[StateSpec, ...]:
        return self.forward_state_specs if graph is GraphKind.FORWARD else self.backward_state_specs


def count_params(model: nn.Module) -> int:
    """Parameters, as both papers' tables count them.

    Args:
        model: Any torch module.

    Returns:
        The number of its parameters (not its buffers)."""
    return sum(p.numel() for p in model.parameters())
