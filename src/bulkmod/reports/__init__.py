"""Human-readable views of results files (tables now; plots and HTML with the reports issue)."""
