"""`repvsr-upscale` whose model takes DELAY seconds a frame (the first argument): a model slower than
the input, on purpose, for the live tests. The model is bicubic x4 made slow (its fallback is not);
each time its state is reset, "slow_upscale: state reset" goes to standard error."""

import sys
import time

from repvsr_deploy import upscaling
from repvsr_deploy.cli.upscale import main
from repvsr_deploy.runtime.bicubic_backend import BicubicBackend
from repvsr_deploy.runtime.session import Session


class SlowBicubic(BicubicBackend):
    def _run(self, *args, **kwargs):
        time.sleep(DELAY)
        return super()._run(*args, **kwargs)


class ResetsSaid(Session):
    def reset(self) -> None:
        print("slow_upscale: state reset", file=sys.stderr, flush=True)
        super().reset()


if __name__ == "__main__":
    DELAY = float(sys.argv.pop(1))
    upscaling.open_model = lambda model, streams=False: ResetsSaid(SlowBicubic())
    main()
