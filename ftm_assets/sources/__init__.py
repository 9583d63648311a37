"""Transcript readers: local Parquet/CSV files and S3 prefixes behind one ``TranscriptSource``
interface (``open.py``), the input schema and its checks (``schema.py``), and a demo-call generator
with planted themes (``demo.py``)."""
