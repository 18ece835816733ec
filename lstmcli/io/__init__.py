"""Reading files: the table formats (CSV, TSV, JSON Lines, fastText), labelled tables, text inputs and their
encodings."""
