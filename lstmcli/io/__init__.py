"""Reading files: the registry of table formats, labelled tables, text inputs and their encodings."""
