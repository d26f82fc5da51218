"""`make bench`: speed measurements, results as JSON."""
