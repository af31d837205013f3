"""Partner inventory and sell-through reports: reading, validating and exporting report files.

A pure library (no tables, no routes): `pipeline.validate_stream` is the one validation every
way in uses (web form rows, CSV/XLSX upload, API, CLI); `templates` writes the downloadable
templates and the rejected-lines export; `fingerprints` explains how the same data never
counts twice.
"""
