"""Everything a person sees: tables, progress, output writers, figures and the HTML report."""
