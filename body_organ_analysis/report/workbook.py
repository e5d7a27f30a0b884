"""The Excel workbook ``output.xlsx``: one sheet per table, units in headers.

Each sheet: bold header row, frozen; columns as wide as their widest cell (within
``MIN_WIDTH``..``MAX_WIDTH`` characters). On the ``info`` sheet the provenance
rows (stand-in weights, threshold engine) are red when they warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

WORKBOOK_NAME = "output.xlsx"
MIN_WIDTH, MAX_WIDTH = 8, 80


@dataclass
class Sheet:
    """A table for the workbook. Every column name carries its unit, e.g. ``volume_ml``."""

    name: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.name) > 31:
            raise ValueError(f"Excel sheet names have at most 31 characters: {self.name!r}")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"sheet {self.name!r}: row of {len(row)} cells, {len(self.columns)} columns")


def info_sheet(info: dict[str, Any]) -> Sheet:
    return Sheet("info", ["key", "value"], [[key, value] for key, value in info.items()])


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.name)
        worksheet.append(list(sheet.columns))
        for cell in worksheet[1]:
            cell.font = Font(bold=True)
        widths = [len(str(column)) for column in sheet.columns]
        for row in sheet.rows:
            values = [_cell_value(v) for v in row]
            worksheet.append(values)
            widths = [max(w, len(_shown(v))) for w, v in zip(widths, values)]
        worksheet.freeze_panes = "A2"
        for index, width in enumerate(widths, start=1):
            letter = worksheet.cell(row=1, column=index).column_letter
            worksheet.column_dimensions[letter].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))
        if sheet.name == "info":
            _mark_provenance(worksheet)
    workbook.save(path)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _mark_provenance(worksheet) -> None:
    """Red, bold provenance rows when the results come from stand-in weights or the threshold engine."""
    from openpyxl.styles import Font

    rows = {row[0].value: row for row in worksheet.iter_rows(min_row=2)}
    warn = any(rows.get(key) and rows[key][1].value is True
               for key in ("provenance_stand_in_weights", "provenance_approximate"))  # fmt: skip
    if warn and "provenance" in rows:
        for cell in rows["provenance"]:
            cell.font = Font(bold=True, color="C00000")


def _cell_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN: an empty cell
        return None
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value
