"""repvsr-import: an official BasicSR / MMagic checkpoint -> a checkpoint of this toolkit."""

from pathlib import Path

import click

from .errors import debug_option, run_command


@click.command("repvsr-import")
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The checkpoint to write."
)
@click.option(
    "--into",
    "into",
    help="For a SpyNet checkpoint: the model whose SpyNet gets it (basicvsr, ksnet-uni, "
    "ksnet-bi); its other weights freshly initialised.",
)
@click.option(
    "--key",
    type=click.Choice(["params", "params_ema"]),
    help="BasicSR entry to read [default: params_ema where there is one, else params].",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the weights --into initialises.")
@debug_option
def import_command(source, out, into, key, seed):
    """Map SOURCE, a BasicSR or MMagic checkpoint of BasicVSR, EDVR or SpyNet, onto this toolkit's
    model and write it as a checkpoint (for repvsr-export, -upscale, -eval, -train --init).

    Every tensor must find its place, with its shape, and every weight of the model must be given:
    otherwise nothing is written and the first key that does not fit is named. EDVR comes in as
    edvr-m with centred=True (the centre of five frames as reference, as its weights were trained).
    Files load with weights_only=True: no code from them runs."""
    from ..models import save_checkpoint
    from ..models.official import import_official

    if out.resolve() == source.resolve():
        raise click.UsageError("--out must not be SOURCE itself")
    imported = import_official(source, into, key, seed)
    save_checkpoint(imported.model, out)
    options = ", ".join(f"{k} {v}" if v is not True else k for k, v in imported.model.config.items())
    entry = f"'{imported.source_key}'" if imported.source_key else "a bare state dict"
    part = " into its SpyNet" if imported.architecture == "spynet" else ""
    click.echo(
        f"{out}: {imported.model.name} ({options or 'defaults'}){part} from {source} "
        f"({imported.layout} layout, {entry}, {imported.tensors} tensors)"
    )


def main():
    run_command(import_command)
