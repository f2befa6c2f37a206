"""The command-line fronts: each is a thin layer over one stage of the pipeline."""
