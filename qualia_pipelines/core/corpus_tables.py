"""The corpus tables' names and the search orders, kept apart from the store and the index so that the CLI can
offer them without loading pandas."""

from typing import Literal

CorpusTable = Literal["vocabulary", "distinctive_words", "sentiment_over_time", "participation"]
"""The corpus tables as :class:`~qualia_pipelines.core.corpus.CorpusStore` methods: the assets
``corpus_vocabulary``, ``distinctive_words``, ``sentiment_over_time`` and ``speaker_participation``."""

TABLE_ASSETS: dict[str, str] = {
    "vocabulary": "corpus_vocabulary",
    "distinctive_words": "distinctive_words",
    "sentiment_over_time": "sentiment_over_time",
    "participation": "speaker_participation",
}
"""The asset that materializes each table (as ``outputs/<asset>/all.parquet``)."""

SearchOrder = Literal["relevance", "newest"]
"""Best first (BM25), or newest first (what a search too broad to rank answers with)."""
