"""Reading files: CSV/TSV tables, text inputs and their encodings."""
