"""Human-readable views of results files and saved models: tables, figures, the self-contained HTML report and
model cards."""
