"""Output files: label maps, JSON, workbook, PDF, previews, manifest."""
