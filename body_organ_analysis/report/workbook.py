"""The Excel workbook ``output.xlsx``: one sheet per table, units in headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

WORKBOOK_NAME = "output.xlsx"


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
        for row in sheet.rows:
            worksheet.append([_cell_value(v) for v in row])
        worksheet.freeze_panes = "A2"
        for index, column in enumerate(sheet.columns, start=1):
            letter = worksheet.cell(row=1, column=index).column_letter
            worksheet.column_dimensions[letter].width = max(10, min(40, len(str(column)) + 2))
    workbook.save(path)


def _cell_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN: an empty cell
        return None
    if isinstance(value, (list, tuple, dict)):
        return str(value)
    return value
