"""The corpus tables' names, kept apart from the store so that the CLI can offer them without loading pandas."""

from typing import Literal

CorpusTable = Literal["vocabulary", "distinctive_words", "sentiment_over_time", "participation"]
"""The corpus tables as :class:`~qualia_pipelines.core.corpus.CorpusStore` methods: the assets
``corpus_vocabulary``, ``distinctive_words``, ``sentiment_over_time`` and ``speaker_participation``."""
