"""The papers' efficiency tables, as published, to print beside what we measure: the rows each
registered model carries (`models.papers`), and those of models the registry does not have."""

from ..models import model_names
from ..models.papers import PaperRow, PaperRows, ksnet_table1
from ..models.registry import model_class
from ..resolutions import RESOLUTIONS

# rows of KSNet's Table 1 for models not implemented here (named as the table names them)
NOT_IMPLEMENTED: dict[str, PaperRows] = {
    "rlsp": ksnet_table1(2, 4.2, 503.7, 21.7),
    "dap-128": ksnet_table1(4, None, 330.0, 26.3),
    "rsdn": ksnet_table1(5, 6.2, 713.2, 10.6),
    "assl-bi": ksnet_table1(8, 2.7, 210.2, 32.3),
    "rscl-bi": ksnet_table1(9, 2.7, 210.2, 32.3),
}


def paper_tables() -> dict[str, dict[str, dict[str, PaperRow]]]:
    """table -> model -> resolution -> row, each table in the paper's order of rows."""
    rows = {name: model_class(name).paper_rows for name in model_names()} | NOT_IMPLEMENTED
    tables: dict[str, dict[str, dict[str, PaperRow]]] = {}
    for model, by_table in rows.items():
        for table, by_resolution in by_table.items():
            tables.setdefault(table, {})[model] = by_resolution
    return {
        table: dict(sorted(models.items(), key=lambda item: next(iter(item[1].values())).position))
        for table, models in tables.items()
    }


def paper_row(model: str, resolution: str, table: str | None = None) -> PaperRow | None:
    """The row of `table` (default: the first table listing the model with numbers at `resolution`)."""
    for name, rows in paper_tables().items():
        row = rows.get(model, {}).get(resolution)
        if (table is None or table == name) and row and (table or row.params_m):
            return row
    return None


def resolution_of(lr_hw: tuple[int, int]) -> str:
    """The tables' name of an LR size (720p, ...), or WxH for another."""
    names = {hw: name for name, hw in RESOLUTIONS.items()}
    return names.get(tuple(lr_hw), f"{lr_hw[1]}x{lr_hw[0]}")
