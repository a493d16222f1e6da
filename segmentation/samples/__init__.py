"""Demo data for Segment Studio: the Northwind Outfitters retail brand.

``generate_demo`` writes profiles and events files (CSV or Parquet) made
entirely inside DuckDB; ``describe_demo`` says what is in them and
``DEMO_SEGMENTS`` lists example segments (PQL) that find something in them.
Regenerate the shipped files with ``segmentation generate-demo --format csv --out sample_data``.
"""

from __future__ import annotations

from segmentation.samples._generate import DEFAULT_END, DemoFiles, generate_demo
from segmentation.samples.segments import DEMO_SEGMENTS, describe_demo

__all__ = ["DEFAULT_END", "DEMO_SEGMENTS", "DemoFiles", "describe_demo", "generate_demo"]
