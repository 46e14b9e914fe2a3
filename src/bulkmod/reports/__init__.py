"""Human-readable views of results files: tables, figures and the self-contained HTML report."""
