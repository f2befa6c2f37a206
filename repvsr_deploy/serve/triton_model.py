"""The Python-backend model that `repvsr-serve export` writes into a Triton model repository.

Triton's sequence batcher (`oldest` strategy) sends a batch of requests, at most one per live
sequence; each carries a frame FRAME (RGB uint8 [H, W, 3]) and the controls START, END and CORRID.
Each sequence's state lives in a slot of a batch of streams of this toolkit's session over the
graph beside this file (`Sequences`); the answer is HR (RGB uint8 [sH, sW, 3]). A request that
cannot run gets its error; the others their frames. Runs inside Triton only: it needs
`triton_python_backend_utils`, which the server provides.
"""

from __future__ import annotations

import json
from pathlib import Path

from .repository import CONTROLS, FRAME, HR
from .sequences import SequenceFrame, Sequences


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        from ..runtime.choice import Backend
        from ..runtime.streams import open_streams

        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        graph = Path(args["model_repository"]) / args["model_version"] / parameters["graph"]
        idle = int(config["sequence_batching"]["max_sequence_idle_microseconds"]) / 1e6
        backend = Backend.named(parameters["backend"], parameters["device"])
        self.sequences = Sequences(lambda: open_streams(graph, backend), idle)

    def execute(self, requests: list) -> list:
        import triton_python_backend_utils as pb_utils

        def value(request, name):
            return pb_utils.get_input_tensor_by_name(request, name).as_numpy()

        frames = [
            SequenceFrame(
                sequence=int(value(request, CONTROLS["corrid"]).reshape(-1)[0]),
                start=bool(value(request, CONTROLS["start"]).reshape(-1)[0]),
                end=bool(value(request, CONTROLS["end"]).reshape(-1)[0]),
                frame=value(request, FRAME)[0],
            )
            for request in requests
        ]
        responses = []
        for result in self.sequences.run(frames):
            if isinstance(result, str):
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(result)))
            else:
                responses.append(pb_utils.InferenceResponse([pb_utils.Tensor(HR, result[None])]))
        return responses

    def finalize(self) -> None:
        self.sequences.close()
