"""Where the real calls live: the Earnings-21 corpus next to the repository.

Shared by the quality comparison and the benches (``bench/`` imports it from here, so
``quality/`` never imports ``bench/``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["REAL_CORPUS", "default_corpus_path", "require_corpus"]

REAL_CORPUS = Path("shared") / "data" / "earnings21" / "corpus.parquet"


def default_corpus_path() -> Path:
    """``../shared/data/earnings21/corpus.parquet`` relative to the repository root."""
    return Path(__file__).resolve().parents[2].parent / REAL_CORPUS


def require_corpus(path: Path) -> Path:
    """``path`` if it is a file, else ``FileNotFoundError`` saying where the corpus is expected."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"real calls not found at {path}: the real-call benches and comparisons run on the "
            "Earnings-21 corpus (../shared/data/earnings21/corpus.parquet next to the repository); "
            "pass its path explicitly"
        )
    return Path(path)
