"""Category classification: the provider's own taxonomy first, then a text classifier.

1. :func:`category_from_provider` — an adapter's category is trusted when it set one;
   otherwise the event's ``tags`` (Ticketmaster segment/genre/subGenre names, Yelp
   category aliases, Eventbrite category names, Meetup topic names) are mapped through
   the tables below. A provider's "other" (Eventbrite *Other*, *Travel & Outdoor*, *Home
   & Lifestyle*; Ticketmaster *Miscellaneous*) decides nothing: such events go to the
   text classifier, whose own ``other`` class is still possible.
2. :class:`TextClassifier` — TF-IDF over word 1–2-grams and character 2–5-grams (within
   word boundaries; robust to typos, plurals and run-together names) feeding a
   multinomial logistic regression with balanced class weights, whose probabilities are
   the confidence. Trained on ``fixtures/classify/labelled.jsonl`` (written for this
   project, see its generator) and retrainable from the user's provider-labelled events
   (:func:`train_from_events`, ``scenescout model train``).
3. :func:`classify_texts` — the worker-pool job: a batch of texts → (category,
   confidence), loading each model file once per worker process.

:func:`resolve_category` combines the three for one event.

Model files are numpy archives (``.npz``, uncompressed) written by
:meth:`TextClassifier.save`: the fitted model's vocabularies, idf weights and
coefficients as plain arrays, from which it predicts with numpy, without importing
scikit-learn (0.76 s of a worker's start-up); scikit-learn is needed only to train.
They load without unpickling (``allow_pickle=False``: no code in the file runs) in
~15 ms, where the joblib pickles of formats 1 and 2 took ~0.2 s with joblib's import.
Those older files still load, through joblib. **Unpickling runs code: load a joblib
model only if scenescout wrote it** (``scenescout model train`` before format 3).

CPU: training on the labelled set takes a few seconds; prediction runs at a few
thousand texts a second per core, most of it extracting character n-grams (see
``bench/classify_speed.py``). Call both through the worker pool, never on the Trio
thread.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigError
from ..model import CATEGORIES, Event

__all__ = [
    "CATEGORIES",
    "LABELLED",
    "LEGACY_TRAINED_MODEL",
    "MIN_CONFIDENCE",
    "TRAINED_MODEL",
    "TextClassifier",
    "category_from_provider",
    "classify_texts",
    "default_model_file",
    "default_model_path",
    "load_labelled",
    "load_model",
    "preload_model",
    "resolve_category",
    "text_of",
    "train_default_model",
    "train_from_events",
    "trained_model",
]

#: The labelled set the default model is trained on (a repository file).
LABELLED: Final = Path(__file__).resolve().parents[2] / "fixtures" / "classify" / "labelled.jsonl"
#: Below this confidence a prediction is not trusted and the event stays ``other``.
MIN_CONFIDENCE: Final = 0.35
#: Characters of the description the classifier reads (the start says what it is).
DESCRIPTION_CHARS: Final = 1500
#: Model files: 1 held the scikit-learn pipeline, 2 its plain arrays (joblib pickles,
#: both still read); 3 holds those arrays in a numpy archive (``.npz``).
_FORMAT = 3
#: The user's model (``scenescout model train``) under the data dir, and where the
#: versions before format 3 wrote it (used while it is the only one).
TRAINED_MODEL: Final = Path("models") / "classifier.npz"
LEGACY_TRAINED_MODEL: Final = Path("models") / "classifier.joblib"
_ZIP_MAGIC = b"PK\x03\x04"

# --------------------------------------------------------------------------- provider taxonomy


def _key(name: str) -> str:
    """A table key: casefolded, "&" → "and", apostrophes dropped, punctuation → space."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    text = re.sub(r"['’]", "", text)
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


#: Ticketmaster segments (the first tag of a Ticketmaster event). Miscellaneous and
#: Undefined decide nothing by themselves.
TICKETMASTER_SEGMENTS: Final[dict[str, str | None]] = {
    "music": "music",
    "sports": "sports",
    "arts and theatre": "theater",
    "film": "film",
    "miscellaneous": None,
}
#: Ticketmaster genres that name a category more precisely than their segment does,
#: per segment (the same genre name means different things in different segments:
#: Comedy under Film is a film).
TICKETMASTER_GENRES: Final[dict[str, dict[str, str]]] = {
    "arts and theatre": {
        "comedy": "comedy",
        "childrens theatre": "family",
        "puppetry": "family",
        "classical": "music",
        "music": "music",
        "fine art": "arts",
        "performance art": "arts",
        "dance": "arts",
        "multimedia": "arts",
        "cultural": "arts",
        "literary": "arts",
        "fashion": "arts",
    },
    "miscellaneous": {
        "family": "family",
        "fairs and festivals": "community",
        "food and drink": "food_drink",
        "health wellness": "wellness",
        "lecture seminar": "learning",
        "community civic": "community",
        "community cultural": "community",
        "holiday": "community",
        "comedy": "comedy",
        "casino gaming": "nightlife",
        "ice shows": "family",
    },
    "music": {"childrens music": "family"},
    "film": {},
    "sports": {},
}
#: Provider category and topic names without context → category: Yelp event aliases,
#: Eventbrite category and subcategory names, Meetup topic categories, Ticketmaster
#: genre names seen without their segment. Keys are :func:`_key` forms.
PROVIDER_NAMES: Final[dict[str, str]] = {
    # music
    **dict.fromkeys(
        (
            *("music", "concerts", "concert", "rock", "pop", "jazz", "blues", "classical"),
            *("country", "folk", "metal", "alternative", "latin", "reggae", "world"),
            *("orchestra", "choir", "gospel", "indie"),
        ),
        "music",
    ),
    "live music": "music",
    "r and b": "music",
    "hip hop rap": "music",
    "dance electronic": "music",
    "singer songwriter": "music",
    # comedy
    "comedy": "comedy",
    "stand up": "comedy",
    "standup": "comedy",
    "improv": "comedy",
    # theater
    "theatre": "theater",
    "theater": "theater",
    "performing arts": "theater",  # Yelp's alias: plays, musicals, opera
    "musical": "theater",
    "musicals": "theater",
    "opera": "theater",
    "ballet": "theater",
    "circus and specialty acts": "theater",
    "magic and illusion": "theater",
    "spectacular": "theater",
    # arts
    "visual arts": "arts",
    "fine art": "arts",
    "art": "arts",
    "arts": "arts",
    "art and culture": "arts",
    "arts and culture": "arts",
    "performing and visual arts": "arts",
    "fashion": "arts",
    "fashion and beauty": "arts",
    "literary": "arts",
    "dance": "arts",
    "photography": "arts",
    "writing": "arts",
    "crafts": "arts",
    # film
    "film": "film",
    "films": "film",
    "movies": "film",
    "cinema": "film",
    "film media and entertainment": "film",
    "film and media": "film",
    # sports
    "sports": "sports",
    "sports and fitness": "sports",
    "sports active life": "sports",
    "fitness": "sports",
    "running": "sports",
    "cycling": "sports",
    "outdoors and adventure": "sports",
    "basketball": "sports",
    "football": "sports",
    "baseball": "sports",
    "hockey": "sports",
    "ice hockey": "sports",
    "soccer": "sports",
    "tennis": "sports",
    "boxing": "sports",
    "wrestling": "sports",
    "motorsports racing": "sports",
    # food & drink
    "food and drink": "food_drink",
    "food and drinks": "food_drink",
    "food": "food_drink",
    "drinks": "food_drink",
    "beer": "food_drink",
    "wine": "food_drink",
    # nightlife
    "nightlife": "nightlife",
    "clubs": "nightlife",
    "casino gaming": "nightlife",
    # family
    "family": "family",
    "kids family": "family",
    "kids and family": "family",
    "family and education": "family",
    "parents and family": "family",
    "school activities": "family",
    "childrens theatre": "family",
    "childrens music": "family",
    # learning
    "lectures books": "learning",
    "lecture seminar": "learning",
    "business and professional": "learning",
    "science and technology": "learning",
    "science and education": "learning",
    "career and business": "learning",
    "tech": "learning",
    "technology": "learning",
    "education": "learning",
    "language and culture": "learning",
    "book clubs": "learning",
    # community
    "community": "community",
    "community and culture": "community",
    "community civic": "community",
    "community cultural": "community",
    "community and environment": "community",
    "charity and causes": "community",
    "charities": "community",
    "festivals fairs": "community",
    "fairs and festivals": "community",
    "government and politics": "community",
    "movements and politics": "community",
    "religion and spirituality": "community",
    "seasonal and holiday": "community",
    "holiday": "community",
    "hobbies and special interest": "community",
    "hobbies and passions": "community",
    "social activities": "community",
    "identity and language": "community",
    "pets and animals": "community",
    "games": "community",
    # wellness
    "health and wellness": "wellness",
    "health wellness": "wellness",
    "health and wellbeing": "wellness",
    "wellness": "wellness",
    "yoga": "wellness",
    "meditation": "wellness",
    "mental health": "wellness",
    "support and coaching": "wellness",
    # a provider's "other" decides nothing (see the module docstring)
    "other": "other",
    "miscellaneous": "other",
    "home and lifestyle": "other",
    "auto boat and air": "other",
    "travel and outdoor": "other",
    "hobby special interest expos": "other",
}


def category_from_provider(event: Event) -> str | None:
    """The category the provider's own classification gives, or None.

    ``event.category`` when the adapter set one of :data:`CATEGORIES` other than
    ``other``; else the event's tags: for Ticketmaster, the segment (first tag) refined
    by its genre (second tag, :data:`TICKETMASTER_GENRES`); for every source, each tag
    through :data:`PROVIDER_NAMES`, the most frequent category winning (ties: the first
    tag's). "other" from any of these is no answer. Pure; never raises.
    """
    if event.category in CATEGORIES and event.category != "other":
        return event.category
    keys = [_key(tag) for tag in event.tags if isinstance(tag, str) and tag.strip()]
    if event.source == "ticketmaster" and keys and keys[0] in TICKETMASTER_SEGMENTS:
        segment = keys[0]
        genre = keys[1] if len(keys) > 1 else ""
        found = TICKETMASTER_GENRES.get(segment, {}).get(genre) or TICKETMASTER_SEGMENTS[segment]
        if found is not None:
            return found
        keys = keys[1:]
    votes = Counter(
        category
        for key in keys
        if (category := PROVIDER_NAMES.get(key)) is not None and category != "other"
    )
    if not votes:
        return None
    best = max(votes.values())
    return next(
        PROVIDER_NAMES[key] for key in keys if votes.get(PROVIDER_NAMES.get(key, "")) == best
    )


# --------------------------------------------------------------------------- texts


def _join(title: str | None, description: str | None) -> str:
    """The classifier's input: the title, a newline, the start of the description."""
    title = " ".join((title or "").split())
    description = " ".join((description or "").split())[:DESCRIPTION_CHARS]
    return f"{title}\n{description}" if description else title


def text_of(event: Event) -> str:
    """What the classifier reads of an event: its title and the start of its description.

    The same form as the training texts (:func:`load_labelled`, :func:`train_from_events`).
    """
    return _join(event.title, event.description)


def load_labelled(path: Path = LABELLED) -> tuple[list[str], list[str]]:
    """(texts, labels) of a labelled JSONL file (``title``, ``description``, ``category``).

    ValueError naming the line on a malformed row or an unknown category;
    FileNotFoundError when the file is missing (an installed wheel does not ship
    ``fixtures/``: pass a model path instead).
    """
    texts, labels = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                title, description, category = row["title"], row["description"], row["category"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a labelled example ({exc})") from None
            if category not in CATEGORIES:
                raise ValueError(f"{path}:{number}: unknown category {category!r}")
            texts.append(_join(title, description))
            labels.append(category)
    return texts, labels


# --------------------------------------------------------------------------- the model


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", min_df=1
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    strip_accents="unicode",
                    min_df=2,
                    max_features=300_000,
                ),
            ),
        ]
    )
    model = LogisticRegression(C=20.0, class_weight="balanced", max_iter=5000)
    return Pipeline([("features", features), ("model", model)])


# What scikit-learn's TfidfVectorizer does with the options of _pipeline(), for
# prediction: lowercase, then accents stripped (NFKD without combining marks, unless
# ASCII); words are runs of two or more word characters, taken one and two at a time;
# character n-grams of 2–5 are taken inside each whitespace-separated word padded with
# one space each side (a padded word no longer than n gives itself once, and stops
# there); counts of known terms only, weighted 1 + ln(count) times the term's idf, each
# vectorizer's part scaled to unit length.
_WORD_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITESPACE_RUN = re.compile(r"\s\s+")


def _preprocessed(text: str) -> str:
    text = text.lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _word_terms(text: str) -> list[str]:
    tokens = _WORD_TOKEN.findall(text)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def _char_terms(text: str, low: int = 2, high: int = 5) -> list[str]:
    terms: list[str] = []
    for word in _WHITESPACE_RUN.sub(" ", text).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:
                terms.append(padded)  # the whole word once, and no longer n-grams
                break
            terms += [padded[i : i + n] for i in range(length - n + 1)]
    return terms


class _Predictor:
    """A fitted model's prediction from plain data: the two vectorizers' vocabularies and
    idf weights, the regression's coefficients, intercepts and classes. Needs numpy,
    not scikit-learn; agrees with the pipeline's ``predict_proba`` to rounding (tested)."""

    def __init__(self, data: dict[str, Any]) -> None:
        import numpy as np

        self.data = data
        self.classes: list[str] = [str(c) for c in data["classes"]]
        self._words: dict[str, int] = data["words"]["vocabulary"]
        self._word_idf = data["words"]["idf"]
        self._chars: dict[str, int] = data["chars"]["vocabulary"]
        self._char_idf = data["chars"]["idf"]
        self._idf = np.concatenate([self._word_idf, self._char_idf]).astype(np.float64)
        self._coef = np.asarray(data["coef"], dtype=np.float64)
        self._intercept = np.asarray(data["intercept"], dtype=np.float64)
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        if (
            len(self._words) != len(self._word_idf)
            or len(self._chars) != len(self._char_idf)
            or self._coef.shape != (rows, len(self._idf))
            or self._intercept.shape != (rows,)
        ):
            raise ValueError("the model's arrays do not fit together")

    @classmethod
    def of(cls, pipeline: Any) -> _Predictor:
        """The predictor of a fitted ``_pipeline()``."""
        vectorizers = dict(pipeline.named_steps["features"].transformer_list)
        model = pipeline.named_steps["model"]
        return cls(
            {
                name: {
                    "vocabulary": {
                        str(t): int(i) for t, i in vectorizers[name].vocabulary_.items()
                    },
                    "idf": vectorizers[name].idf_.copy(),
                }
                for name in ("words", "chars")
            }
            | {
                "coef": model.coef_.copy(),
                "intercept": model.intercept_.copy(),
                "classes": [str(c) for c in model.classes_],
            }
        )

    def predict_proba(self, texts: Sequence[str]) -> Any:
        import numpy as np

        # Every text's terms counted, then weighted, scaled and scored in a few array
        # operations for the whole batch: group 2i is text i's words, 2i + 1 its
        # character n-grams (word columns first, as the pipeline joined them).
        columns: list[int] = []
        counts: list[int] = []
        groups: list[int] = []
        offset = len(self._word_idf)
        for i, text in enumerate(texts):
            clean = _preprocessed(text)
            for group, terms, vocabulary in (
                (2 * i, _word_terms(clean), self._words),
                (2 * i + 1, _char_terms(clean), self._chars),
            ):
                counted = Counter(terms)
                columns += map(vocabulary.get, counted, itertools.repeat(-1))
                counts += counted.values()
                groups += itertools.repeat(group, len(counted))
        at = np.array(columns, dtype=np.intp)
        known = at >= 0
        at, group_of = at[known], np.array(groups, dtype=np.intp)[known]
        at = np.where(group_of % 2 == 0, at, at + offset)
        weights = (1.0 + np.log(np.array(counts, dtype=np.float64)[known])) * self._idf[at]
        norms = np.sqrt(np.bincount(group_of, weights=weights * weights, minlength=2 * len(texts)))
        weights = weights / np.where(norms > 0, norms, 1.0)[group_of]
        row_of = group_of // 2
        decision = np.empty((len(texts), self._coef.shape[0]))
        for k in range(self._coef.shape[0]):
            decision[:, k] = np.bincount(
                row_of, weights=self._coef[k, at] * weights, minlength=len(texts)
            )
        decision += self._intercept
        if self._coef.shape[0] == 1:  # two classes: one logistic
            positive = 1.0 / (1.0 + np.exp(-decision[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        decision = decision - decision.max(axis=1, keepdims=True)
        exp = np.exp(decision)
        return exp / exp.sum(axis=1, keepdims=True)


class TextClassifier:
    """A text → category model (TF-IDF + logistic regression), trained in memory.

    ``fit`` then ``predict``/``predict_with_confidence``; ``save``/``load`` persist the
    fitted model as a numpy archive. Prediction reads the fitted model's plain arrays
    (``_Predictor``), so a loaded model predicts without importing scikit-learn.
    **Security:** a model of this format loads without running code from the file; the
    joblib pickles of the two before run code when loaded — load only ones scenescout
    wrote. Not thread-safe while fitting.
    """

    def __init__(self) -> None:
        #: the fitted scikit-learn pipeline when this model was fitted in this process
        #: (a loaded model has only what prediction needs)
        self.pipeline: Any = None
        #: examples per category seen by the last ``fit``
        self.trained_on: dict[str, int] = {}
        self._predictor: _Predictor | None = None

    @property
    def classes(self) -> list[str]:
        """The categories the model can predict, in the order of ``predict_proba`` columns."""
        return self._fitted().classes

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextClassifier:
        """Train on ``texts`` labelled ``labels`` (categories); returns self.

        ValueError on unequal lengths, an unknown category, or fewer than two categories.
        """
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        unknown = sorted(set(labels) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categories: {unknown}")
        if len(set(labels)) < 2:
            raise ValueError("need examples of at least two categories")
        pipeline = _pipeline()
        # After _pipeline's imports, so scipy's BLAS is loaded and limited too: on this
        # problem BLAS threads spin more than they help (one thread: 3.0 s of CPU for
        # the default model; two: 7.5 s over a longer wall time).
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            pipeline.fit(list(texts), list(labels))
        self.pipeline = pipeline
        self._predictor = _Predictor.of(pipeline)
        self.trained_on = dict(sorted(Counter(labels).items()))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most likely category of each text."""
        return [label for label, _ in self.predict_with_confidence(texts)]

    def predict_proba(self, texts: Sequence[str]) -> Any:
        """An (n, len(classes)) array of probabilities (rows sum to 1)."""
        return self._fitted().predict_proba(list(texts))

    def predict_with_confidence(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(category, probability of that category) per text; [] for no texts."""
        if not texts:
            return []
        probabilities = self.predict_proba(texts)
        classes = self.classes
        best = probabilities.argmax(axis=1)
        return [(classes[i], float(row[i])) for i, row in zip(best, probabilities, strict=True)]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` (a numpy archive, whatever the name says)
        atomically: a temporary file, then rename.

        Blocking file I/O: call from a worker or ``trio.to_thread``. OSError propagates.
        """
        import numpy as np

        data = self._fitted().data
        meta = {"format": _FORMAT, "sklearn": _sklearn_version(), "trained_on": self.trained_on}
        arrays: dict[str, Any] = {
            "meta": np.array(json.dumps(meta)),
            "classes": np.array(data["classes"], dtype=str),
            "coef": np.asarray(data["coef"], dtype=np.float64),
            "intercept": np.asarray(data["intercept"], dtype=np.float64),
        }
        for name in ("words", "chars"):
            terms = _terms_by_column(data[name]["vocabulary"])
            arrays[f"{name}_terms"] = np.array(terms, dtype=str)
            arrays[f"{name}_idf"] = np.asarray(data[name]["idf"], dtype=np.float64)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, **arrays)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TextClassifier:
        """A model written by :meth:`save`: this format, or the joblib pickles of the
        two before (the first held the scikit-learn pipeline). **Load a pickle only if
        scenescout wrote it**; an archive of this format runs no code.

        ConfigError when the file is not such a model, or is of the first format and
        was written by another scikit-learn version (retrain: ``scenescout model
        train``); OSError when it cannot be read.
        """
        with Path(path).open("rb") as source:
            archive = source.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
            source.seek(0)
            try:
                payload = _read_archive(source) if archive else _read_pickle(source)
            except Exception as exc:  # a truncated or foreign file: the errors vary
                raise ConfigError(
                    f"{path}: not a scenescout model ({type(exc).__name__})"
                ) from None
        version = payload.get("format") if isinstance(payload, dict) else None
        if (version == _FORMAT) != archive:  # each format in its own kind of file
            version = None
        if version == 1 and payload.get("sklearn") != _sklearn_version():
            raise ConfigError(
                f"{path}: written by scikit-learn {payload.get('sklearn')}, this is "
                f"{_sklearn_version()}; run `scenescout model train` again"
            )
        model = cls()
        try:
            if version == 1:  # the pipeline itself (unpickling it imported scikit-learn)
                model.pipeline = payload["pipeline"]
                model._predictor = _Predictor.of(model.pipeline)
            elif version in (2, _FORMAT):
                model._predictor = _Predictor(payload["predictor"])
            counts = payload.get("trained_on") or {}
            model.trained_on = {str(k): int(v) for k, v in counts.items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            model._predictor = None
        if model._predictor is None:
            raise ConfigError(f"{path}: not a scenescout model")
        return model

    @classmethod
    def default(
        cls, cache_dir: str | os.PathLike[str] | None = None, *, labelled: Path = LABELLED
    ) -> TextClassifier:
        """The model trained on the labelled set, fitted once and cached.

        With ``cache_dir``, the fitted model is kept there under a name that changes with
        the labelled set and the scikit-learn version (:func:`default_model_path`), so it
        is trained once per installation and then loaded. Without, it is trained in
        memory. Errors as :func:`load_labelled`; OSError when the cache is unwritable.
        """
        if cache_dir is None:
            return cls().fit(*load_labelled(labelled))
        return cls.load(default_model_path(cache_dir, labelled=labelled))

    def _fitted(self) -> _Predictor:
        if self._predictor is None:
            raise RuntimeError("the classifier is not fitted")
        return self._predictor


def trained_model(data_dir: Path) -> Path | None:
    """The user's model under ``data_dir`` (``scenescout model train``), if there is one:
    the archive, else a pickle written before format 3."""
    for relative in (TRAINED_MODEL, LEGACY_TRAINED_MODEL):
        if (data_dir / relative).is_file():
            return data_dir / relative
    return None


def _terms_by_column(vocabulary: dict[str, int]) -> list[str]:
    """A vectorizer's vocabulary as its terms in column order (columns are 0..n-1)."""
    terms: list[str | None] = [None] * len(vocabulary)
    for term, column in vocabulary.items():
        terms[column] = term
    if any(term is None for term in terms):
        raise ValueError("a vocabulary's columns are not 0..n-1")
    return [term for term in terms if term is not None]


def _read_archive(source: Any) -> dict[str, Any]:
    """A format-3 model file's payload (``{"format", "trained_on", "predictor"}``);
    pickled arrays are refused (ValueError). Errors: whatever a bad archive raises."""
    import numpy as np

    with np.load(source, allow_pickle=False) as arrays:
        meta = json.loads(str(arrays["meta"]))
        predictor: dict[str, Any] = {
            name: {
                "vocabulary": {
                    term: column for column, term in enumerate(arrays[f"{name}_terms"].tolist())
                },
                "idf": arrays[f"{name}_idf"],
            }
            for name in ("words", "chars")
        }
        predictor |= {
            "coef": arrays["coef"],
            "intercept": arrays["intercept"],
            "classes": arrays["classes"].tolist(),
        }
    if not isinstance(meta, dict):
        raise ValueError("no metadata")
    return meta | {"predictor": predictor}


def _read_pickle(source: Any) -> Any:
    """A joblib model file's payload (formats 1 and 2). Unpickling runs code."""
    import joblib

    return joblib.load(source)


def _sklearn_version() -> str:
    from importlib.metadata import version  # not `import sklearn`: a second of start-up

    return version("scikit-learn")


def default_model_file(cache_dir: str | os.PathLike[str], *, labelled: Path = LABELLED) -> Path:
    """Where the default model lives under ``cache_dir``, whether or not it is written
    yet: the name changes with the labelled set and the scikit-learn version.

    Blocking (reads the labelled set, ~1 ms); does not import scikit-learn. Errors:
    OSError when the labelled set cannot be read.
    """
    digest = hashlib.sha256(labelled.read_bytes()).hexdigest()[:12]
    name = f"classify-default-{digest}-sklearn{_sklearn_version()}-f{_FORMAT}.npz"
    return Path(cache_dir) / name


def default_model_path(cache_dir: str | os.PathLike[str], *, labelled: Path = LABELLED) -> Path:
    """The path of the default model under ``cache_dir`` (:func:`default_model_file`),
    training and saving it first if it is not there yet. Pass the result to
    :func:`classify_texts`.

    Blocking (file I/O, and on first use training: seconds of CPU and ~250 MiB, with
    scikit-learn's import): run it in the worker pool (:func:`train_default_model`).
    Errors as :meth:`TextClassifier.default`.
    """
    path = default_model_file(cache_dir, labelled=labelled)
    if not path.exists():
        TextClassifier().fit(*load_labelled(labelled)).save(path)
    return path


def train_from_events(
    rows: Iterable[tuple[str, str | None, str | None]], *, labelled: Path = LABELLED
) -> TextClassifier:
    """A model trained on the labelled set plus the user's provider-labelled events.

    ``rows`` are (title, description, provider category) — e.g. from
    :func:`category_from_provider`; rows without a category of :data:`CATEGORIES`, or
    without a title, are skipped; a text seen twice keeps its first label (the labelled
    set's wins). CPU-heavy: run it in the worker pool. Errors as :func:`load_labelled`.
    """
    texts, labels = load_labelled(labelled)
    seen = set(texts)
    for title, description, category in rows:
        if category not in CATEGORIES or not title or not title.strip():
            continue
        text = _join(title, description)
        if text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(category)
    return TextClassifier().fit(texts, labels)


# --------------------------------------------------------------------------- worker job

#: Models loaded in this (worker) process: (path, mtime_ns) → model; None → the default.
_MODELS: dict[tuple[str, int] | None, TextClassifier] = {}


def classify_texts(texts: list[str], model_path: str | None) -> list[tuple[str, float]]:
    """(category, confidence) for each text: the worker-pool job (top-level, picklable).

    ``model_path`` is a file written by :meth:`TextClassifier.save` (e.g.
    :func:`default_model_path`), loaded once per process and again only when the file
    changes; None uses the default model trained in memory from the labelled set (once
    per process — prefer a path, so workers load instead of train). Errors as
    :meth:`TextClassifier.load`.
    """
    return load_model(model_path).predict_with_confidence(texts)


#: CPU a worker may spend training the default model (~3 s here; the pool's per-job
#: cap, meant for a stuck image decoder, could stop it on a slow machine)
TRAINING_CPU_SECONDS: Final = 600


def train_default_model(cache_dir: str, labelled: str | None = None) -> str:
    """Worker-pool job: :func:`default_model_path` (trains and saves the default model
    unless it is there), then retires the worker — scikit-learn and the fit leave it
    ~250 MiB larger, which the next job's fresh worker does not carry. Its CPU cap is
    ``TRAINING_CPU_SECONDS``. Returns the path. Errors as :func:`default_model_path`.
    """
    from ..worker_runtime import extend_cpu_cap, retire_after_job

    retire_after_job()
    extend_cpu_cap(TRAINING_CPU_SECONDS)
    return str(
        default_model_path(cache_dir, labelled=LABELLED if labelled is None else Path(labelled))
    )


def preload_model(model_path: str | None) -> None:
    """Load the model ``classify_texts`` would use into this process: the worker-pool
    job a crawl warms its workers with, so the first batch does not wait for it.
    Errors as :meth:`TextClassifier.load`."""
    load_model(model_path)


def load_model(model_path: str | None) -> TextClassifier:
    """The model ``classify_texts`` uses, loaded into this process if it was not."""
    if model_path is None:
        model = _MODELS.get(None)
        if model is None:
            model = _MODELS[None] = TextClassifier.default()
        return model
    key = (model_path, os.stat(model_path).st_mtime_ns)
    model = _MODELS.get(key)
    if model is None:
        model = TextClassifier.load(model_path)
        for stale in [k for k in _MODELS if k is not None and k[0] == model_path]:
            del _MODELS[stale]
        _MODELS[key] = model
    return model


def resolve_category(
    event: Event, prediction: tuple[str, float] | None, *, min_confidence: float = MIN_CONFIDENCE
) -> str:
    """The category stored for ``event``: the provider's, else a confident prediction,
    else ``other``. ``prediction`` is the event's item of :func:`classify_texts`."""
    provided = category_from_provider(event)
    if provided is not None:
        return provided
    if prediction is not None and prediction[1] >= min_confidence:
        return prediction[0]
    return "other"
