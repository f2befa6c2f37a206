"""The values a training run's settings take, in a module without torch: the command line offers
them before torch is imported."""

PRECISIONS = ("fp32", "bf16", "fp16")
DEGRADATIONS = ("bd", "bi", "mix")  # the papers' two, and the mix of `data.mixed_degradation`
DATASETS = ("auto", "reds", "vimeo90k", "lmdb", "folders")
