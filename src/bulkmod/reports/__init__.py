"""Human-readable views of results files and saved models.

Tables, figures, the self-contained HTML report and model cards.
"""
