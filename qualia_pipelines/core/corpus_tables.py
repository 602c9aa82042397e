"""The corpus tables' names and the search orders, kept apart from the store and the index so that the CLI can
offer them without loading pandas."""

from typing import Literal

CorpusTable = Literal[
    "vocabulary", "distinctive_words", "sentiment_over_time", "participation", "speaker_trends", "word_trends"
]
"""The corpus tables as :class:`~qualia_pipelines.core.corpus.CorpusStore` methods, each materialized by the
asset :data:`TABLE_ASSETS` names."""

CodingTable = Literal["coded_segments", "code_counts"]
"""The tables of coding imported from QDA tools (`qualia import-qda`), kept in the corpus store."""
StoreTable = Literal[CorpusTable, CodingTable]
"""Every table `qualia corpus` shows."""

TABLE_ASSETS: dict[str, str] = {
    "vocabulary": "corpus_vocabulary",
    "distinctive_words": "distinctive_words",
    "sentiment_over_time": "sentiment_over_time",
    "participation": "speaker_participation",
    "speaker_trends": "speaker_trends",
    "word_trends": "word_trends",
}
"""The asset that materializes each table (as ``outputs/<asset>/all.parquet``)."""

SearchOrder = Literal["relevance", "newest"]
"""Best first (BM25), or newest first (what a search too broad to rank answers with)."""
