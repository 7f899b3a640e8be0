"""Classification: provider taxonomies per source, the labelled set, the text classifier
(evaluation target, persistence, worker cache) and retraining from provider labels."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import joblib
import pytest

from scenescout_cli.enrich import classify
from scenescout_cli.enrich.classify import (
    CATEGORIES,
    LABELLED,
    TextClassifier,
    category_from_provider,
    classify_texts,
    default_model_path,
    load_labelled,
    resolve_category,
    text_of,
    train_from_events,
)
from scenescout_cli.errors import ConfigError
from scenescout_cli.model import Event
from scenescout_cli.sources.eventbrite import EventbriteSource
from scenescout_cli.sources.ticketmaster import TicketmasterSource
from scenescout_cli.sources.yelp import YelpSource

from .bench_scripts import bench_script

ROOT = Path(__file__).parents[2]
FETCHED = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def event(**changes: Any) -> Event:
    base = Event(
        source="meetup",
        source_id="abc123",
        title="Untitled",
        starts_at=dt.datetime(2026, 7, 10, 23, 0, tzinfo=dt.UTC),
        timezone="America/New_York",
    )
    return attrs.evolve(base, **changes)


def eval_module() -> ModuleType:
    """bench/eval_classify.py."""
    return bench_script("eval_classify")


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    """Each test starts with no models loaded in this process."""
    classify._MODELS.clear()
    yield
    classify._MODELS.clear()


@pytest.fixture(scope="module")
def small_labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-per-category slice of the labelled set: quick to train on."""
    rows: list[str] = []
    seen: Counter[str] = Counter()
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        category = json.loads(line)["category"]
        if seen[category] < 20:
            seen[category] += 1
            rows.append(line)
    path = tmp_path_factory.mktemp("labelled") / "small.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_model(small_labelled: Path) -> TextClassifier:
    return TextClassifier().fit(*load_labelled(small_labelled))


# --------------------------------------------------------------------------- provider taxonomy


def _page(source: str, name: str) -> Any:
    return json.loads((ROOT / "fixtures" / source / name).read_text(encoding="utf-8"))


def test_ticketmaster_events_from_the_fixture_page_map_to_their_segment_or_genre() -> None:
    """Ticketmaster records keep the adapter's category; Miscellaneous expos decide nothing."""
    adapter = TicketmasterSource("key")
    records = _page("ticketmaster", "page_nyc_0.json")["_embedded"]["events"]
    found = {
        e.title: category_from_provider(e) for e in (adapter.normalise(r, FETCHED) for r in records)
    }
    assert found["Late Set: New Voices"] == "comedy"
    assert found["The Clockmaker's Daughter (Touring)"] == "theater"
    assert found["Harbor Lights – Summer Tour 2026"] == "music"
    assert found["NYC Makers & Tinkerers Expo"] is None  # Miscellaneous / Hobby Expos
    assert set(found.values()) <= {*CATEGORIES, None}


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (("Miscellaneous", "Food & Drink"), "food_drink"),
        (("Miscellaneous", "Family"), "family"),
        (("Miscellaneous", "Lecture/Seminar"), "learning"),
        (("Miscellaneous", "Health/Wellness"), "wellness"),
        (("Miscellaneous", "Fairs & Festivals"), "community"),
        (("Miscellaneous", "Hobby/Special Interest Expos"), None),
        (("Arts & Theatre", "Comedy"), "comedy"),
        (("Arts & Theatre", "Children's Theatre"), "family"),
        (("Arts & Theatre", "Fine Art"), "arts"),
        (("Arts & Theatre", "Theatre", "Musical"), "theater"),
        (("Film", "Comedy"), "film"),
        (("Music", "Children's Music"), "family"),
        (("Sports", "Basketball", "NBA"), "sports"),
        (("Comedy",), "comedy"),  # the segment was "Undefined" and dropped
        ((), None),
    ],
)
def test_ticketmaster_tags_map_by_segment_then_genre(
    tags: tuple[str, ...], expected: str | None
) -> None:
    """A genre means what its segment makes it mean (Comedy under Film is a film)."""
    assert category_from_provider(event(source="ticketmaster", tags=tags)) == expected


def test_yelp_events_from_the_fixture_page_keep_their_alias_category() -> None:
    """Yelp records map their category alias; an alias the adapter lacks is mapped too."""
    adapter = YelpSource("key")
    events = [adapter.normalise(r, FETCHED) for r in _page("yelp", "page_first.json")["events"]]
    assert {e.tags[0]: category_from_provider(e) for e in events} == {
        "music": "music",
        "nightlife": "nightlife",
        "festivals-fairs": "community",
        "kids-family": "family",
        "performing-arts": "theater",
    }
    unknown = event(source="yelp", category=None, tags=("lectures-books",))
    assert category_from_provider(unknown) == "learning"


def test_eventbrite_events_from_the_fixture_page_keep_their_category_id_mapping() -> None:
    """Eventbrite records carry the adapter's category-id mapping; names map without it."""
    adapter = EventbriteSource("token", organizers=("1",))
    records = _page("eventbrite", "org_events_page_1.json")["events"]
    found = [category_from_provider(adapter.normalise(r, FETCHED)) for r in records]
    assert found == ["music", "comedy", "family", "food_drink"]
    named = event(source="eventbrite", tags=("Business & Professional",))
    assert category_from_provider(named) == "learning"


def test_meetup_topics_vote_and_the_first_topic_breaks_ties() -> None:
    """Meetup topic names map by majority; on a tie the earlier topic's category wins."""
    topics = ("Tech", "Outdoors & Adventure", "Science & Education")
    assert category_from_provider(event(tags=topics)) == "learning"
    assert category_from_provider(event(tags=("Dancing", "Games", "Yoga"))) == "community"
    assert category_from_provider(event(tags=("Knitting", "Origami"))) is None


def test_a_providers_other_decides_nothing() -> None:
    """ "other" from an adapter or a tag leaves the event to the text classifier."""
    assert category_from_provider(event(category="other")) is None
    assert category_from_provider(event(category="other", tags=("Travel & Outdoor",))) is None
    assert category_from_provider(event(category="other", tags=("Health & Wellness",))) == (
        "wellness"
    )
    assert category_from_provider(event(category="not-a-category")) is None


# --------------------------------------------------------------------------- labelled set


def test_labelled_set_has_at_least_60_distinct_examples_per_category() -> None:
    """Every category has ≥ 60 examples in the committed set, and no text repeats."""
    texts, labels = load_labelled()
    counts = Counter(labels)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 60
    assert len(set(texts)) == len(texts)


def test_labelled_set_is_what_its_generator_writes(tmp_path: Path) -> None:
    """fixtures/classify/labelled.jsonl is the generator's current output (regenerate it)."""
    spec = importlib.util.spec_from_file_location(
        "make_labelled", ROOT / "fixtures" / "classify" / "make_labelled.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "labelled.jsonl")
    assert (tmp_path / "labelled.jsonl").read_bytes() == LABELLED.read_bytes()


def test_load_labelled_names_the_line_of_an_unknown_category(tmp_path: Path) -> None:
    """A row with a category outside DESIGN's list is refused with its line number."""
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"title": "a", "description": "", "category": "music"}\n'
        '{"title": "b", "description": "", "category": "opera"}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: unknown category 'opera'"):
        load_labelled(path)


def test_text_of_joins_title_and_the_start_of_the_description() -> None:
    """The classifier reads the title, a newline and at most 1500 description characters."""
    assert text_of(event(title="  Jazz   Brunch ", description=None)) == "Jazz Brunch"
    long = "word " * 1000
    text = text_of(event(title="Talk", description=long))
    assert text.startswith("Talk\nword word")
    assert len(text) == len("Talk\n") + classify.DESCRIPTION_CHARS


# --------------------------------------------------------------------------- the model


def test_macro_f1_on_the_held_out_split_meets_the_target() -> None:
    """bench/eval_classify.py's stratified split scores macro-F1 ≥ 0.85 (the real model)."""
    bench = eval_module()
    examples = bench.load_examples()
    report = bench.evaluate(*bench.split(examples))
    assert report.test_size >= 13 * 25
    assert report.macro_f1 >= bench.TARGET
    assert all(f1 >= 0.7 for _, _, f1, _ in report.per_category.values())


def test_predictions_carry_a_probability_of_the_predicted_class(
    small_model: TextClassifier,
) -> None:
    """predict_with_confidence gives a category and a probability in (0, 1]."""
    texts = ["Knicks vs. Celtics\nTip-off at 7:30pm.", "Sound Bath\nCrystal bowls and gongs."]
    predicted = small_model.predict_with_confidence(texts)
    assert [label for label, _ in predicted] == ["sports", "wellness"]
    assert all(0 < confidence <= 1 for _, confidence in predicted)
    assert small_model.predict(texts) == ["sports", "wellness"]
    assert small_model.predict_with_confidence([]) == []
    assert sorted(small_model.classes) == sorted(CATEGORIES)


def test_fit_refuses_unknown_categories_and_mismatched_lengths() -> None:
    """fit raises ValueError instead of training on labels it cannot store."""
    with pytest.raises(ValueError, match="unknown categories"):
        TextClassifier().fit(["a", "b"], ["music", "opera"])
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        TextClassifier().fit(["a", "b"], ["music"])
    with pytest.raises(RuntimeError, match="not fitted"):
        TextClassifier().predict(["a"])


def test_save_then_load_predicts_the_same(small_model: TextClassifier, tmp_path: Path) -> None:
    """A saved model is a numpy archive without pickles; it loads back with identical
    probabilities and training counts, and saves again to the same arrays."""
    import numpy as np

    path = tmp_path / "models" / "m.npz"
    small_model.save(path)
    with np.load(path, allow_pickle=False) as arrays:  # nothing in it needs unpickling
        assert json.loads(str(arrays["meta"]))["format"] == 3
        assert arrays["coef"].shape[1] == len(arrays["words_terms"]) + len(arrays["chars_terms"])
    loaded = TextClassifier.load(path)
    texts, _ = load_labelled()
    texts += ODD_TEXTS
    assert (loaded.predict_proba(texts) == small_model.predict_proba(texts)).all()
    assert loaded.classes == small_model.classes
    assert loaded.trained_on == small_model.trained_on
    assert [p.name for p in path.parent.iterdir()] == ["m.npz"]  # no temporary left
    again = tmp_path / "again.npz"
    loaded.save(again)
    with np.load(path) as first, np.load(again) as second:
        assert sorted(first.files) == sorted(second.files)
        assert all((first[name] == second[name]).all() for name in first.files)


def test_a_model_file_of_the_second_format_still_loads(
    small_model: TextClassifier, tmp_path: Path
) -> None:
    """Files of plain arrays pickled by joblib (``scenescout model train`` before the
    archive) load and predict as before."""
    from importlib.metadata import version

    old = tmp_path / "classifier.joblib"
    joblib.dump(
        {
            "format": 2,
            "sklearn": version("scikit-learn"),
            "trained_on": small_model.trained_on,
            "predictor": small_model._fitted().data,
        },
        old,
        compress=3,
    )
    loaded = TextClassifier.load(old)
    texts, _ = load_labelled()
    assert (loaded.predict_proba(texts[:50]) == small_model.predict_proba(texts[:50])).all()
    assert loaded.trained_on == small_model.trained_on


def test_load_refuses_archives_it_did_not_write(
    small_model: TextClassifier, tmp_path: Path
) -> None:
    """An archive with pickled arrays, missing arrays, arrays that do not fit together
    or another format's metadata raises ConfigError (and unpickles nothing)."""
    import numpy as np

    good = tmp_path / "good.npz"
    small_model.save(good)
    with np.load(good) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    meta = json.loads(str(arrays["meta"]))
    cases = {
        "pickled": arrays | {"classes": np.array([{"evil": 1}, None], dtype=object)},
        "missing": {k: v for k, v in arrays.items() if k != "chars_idf"},
        "short": arrays | {"words_idf": arrays["words_idf"][:-1]},
        "coefficients": arrays | {"coef": arrays["coef"][:, :-1]},
        "format": arrays | {"meta": np.array(json.dumps(meta | {"format": 2}))},
        "metadata": arrays | {"meta": np.array("[]")},
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **content)
        with pytest.raises(ConfigError, match="not a scenescout model"):
            TextClassifier.load(path)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(ConfigError, match="not a scenescout model"):
        TextClassifier.load(truncated)


def test_the_trained_model_is_the_archive_else_an_older_pickle(
    small_model: TextClassifier, tmp_path: Path
) -> None:
    """A crawl uses the archive ``scenescout model train`` writes; a data dir with only
    the pickle of an older version uses that; without either, the default."""
    assert classify.trained_model(tmp_path) is None
    legacy = tmp_path / classify.LEGACY_TRAINED_MODEL
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"older")
    assert classify.trained_model(tmp_path) == legacy
    small_model.save(tmp_path / classify.TRAINED_MODEL)
    assert classify.trained_model(tmp_path) == tmp_path / "models" / "classifier.npz"


def test_load_refuses_files_it_did_not_write(small_model: TextClassifier, tmp_path: Path) -> None:
    """Foreign, corrupt and other-version model files raise ConfigError."""
    foreign = tmp_path / "foreign.joblib"
    joblib.dump({"something": "else"}, foreign)
    with pytest.raises(ConfigError, match="not a scenescout model"):
        TextClassifier.load(foreign)
    corrupt = tmp_path / "corrupt.joblib"
    corrupt.write_bytes(b"not a pickle at all")
    with pytest.raises(ConfigError, match="not a scenescout model"):
        TextClassifier.load(corrupt)
    old = tmp_path / "old.joblib"
    joblib.dump({"format": 1, "sklearn": "0.1", "pipeline": small_model.pipeline}, old)
    with pytest.raises(ConfigError, match=r"scikit-learn 0\.1.*model train"):
        TextClassifier.load(old)
    from importlib.metadata import version

    for broken in (
        {"format": 2, "predictor": {"classes": ["music"]}},
        {"format": 2, "predictor": "arrays"},
        {"format": 1, "sklearn": version("scikit-learn")},
        {"format": 1, "sklearn": version("scikit-learn"), "pipeline": "not one"},
        {"format": 3, "predictor": {}},
    ):
        truncated = tmp_path / "broken.joblib"
        joblib.dump(broken, truncated)
        with pytest.raises(ConfigError, match="not a scenescout model"):
            TextClassifier.load(truncated)


ODD_TEXTS = [
    "",
    "   ",
    "a",
    "ab",
    "abc",
    "Ünïcödé  Fête\tde la\n\nMusique",
    "Jazz & Blues — Live!!",
    "ǅemal Ⅻ ﬁnale",
    "K-Pop Night 2026 (18+)",
    "zzzzqqq xxyyzz",
]


def test_prediction_agrees_with_the_scikit_learn_pipeline(small_model: TextClassifier) -> None:
    """The plain-array predictor gives the fitted pipeline's probabilities, to rounding,
    on the labelled set and on odd texts (accents, ligatures, tabs, runs of spaces,
    words shorter than an n-gram, nothing known)."""
    import numpy as np

    texts, _ = load_labelled()
    texts += ODD_TEXTS
    ours = small_model.predict_proba(texts)
    theirs = small_model.pipeline.predict_proba(texts)
    assert ours.shape == theirs.shape == (len(texts), len(small_model.classes))
    assert np.abs(ours - theirs).max() < 1e-12
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()
    assert small_model.predict_proba([]).shape == (0, len(small_model.classes))


def test_a_loaded_model_predicts_without_importing_scikit_learn(
    small_model: TextClassifier, tmp_path: Path
) -> None:
    """A crawl's worker loads the model without scikit-learn (0.76 s of imports) or
    joblib (~0.08 s), nor de-duplication and rapidfuzz, which only the engine's process
    needs."""
    import subprocess
    import sys

    path = tmp_path / "m.npz"
    small_model.save(path)
    script = (
        "import sys\n"
        "from scenescout_cli.enrich.classify import classify_texts\n"
        f"print(classify_texts(['Knicks vs. Celtics'], {str(path)!r})[0][0])\n"
        "print('sklearn' in sys.modules)\n"
        "print('joblib' in sys.modules)\n"
        "print('scenescout_cli.enrich.dedup' in sys.modules or 'rapidfuzz' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["sports", "False", "False", "False"]


def test_a_model_file_of_the_first_format_still_loads(
    small_model: TextClassifier, tmp_path: Path
) -> None:
    """Files that held the scikit-learn pipeline itself (``scenescout model train``
    before this format) load and predict as before."""
    from importlib.metadata import version

    old = tmp_path / "old.joblib"
    joblib.dump(
        {
            "format": 1,
            "sklearn": version("scikit-learn"),
            "trained_on": small_model.trained_on,
            "pipeline": small_model.pipeline,
        },
        old,
    )
    loaded = TextClassifier.load(old)
    texts, _ = load_labelled()
    assert (loaded.predict_proba(texts[:50]) == small_model.predict_proba(texts[:50])).all()
    assert loaded.trained_on == small_model.trained_on


def test_default_model_is_trained_once_per_cache_dir(small_labelled: Path, tmp_path: Path) -> None:
    """default_model_path trains and saves on first use; later calls reuse the same file."""
    first = default_model_path(tmp_path, labelled=small_labelled)
    written = first.stat().st_mtime_ns
    second = default_model_path(tmp_path, labelled=small_labelled)
    assert second == first
    assert second.stat().st_mtime_ns == written
    model = TextClassifier.default(tmp_path, labelled=small_labelled)
    assert sum(model.trained_on.values()) == 13 * 20


def test_classify_texts_loads_a_model_once_per_process_and_again_when_it_changes(
    small_model: TextClassifier, small_labelled: Path, tmp_path: Path
) -> None:
    """The worker job caches the loaded model by path and file version."""
    path = tmp_path / "m.npz"
    small_model.save(path)
    first = classify_texts(["Knicks vs. Celtics"], str(path))
    assert first[0][0] == "sports"
    (loaded,) = classify._MODELS.values()
    classify_texts(["Sound Bath"], str(path))
    (still,) = classify._MODELS.values()
    assert still is loaded

    retrained = train_from_events([], labelled=small_labelled)
    retrained.save(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    classify_texts(["Sound Bath"], str(path))
    (replaced,) = classify._MODELS.values()
    assert replaced is not loaded


def test_train_from_events_learns_the_users_provider_labels(small_labelled: Path) -> None:
    """Provider-labelled events join the labelled set; rows without a category are skipped."""
    rows: list[tuple[str, str | None, str | None]] = [
        (f"Zorbball Night {i}", "Zorbball league, zorbs provided.", "sports") for i in range(30)
    ]
    rows += [("Zorbball Gala", "Zorbball dinner.", None), ("", "no title", "music")]
    model = train_from_events(rows, labelled=small_labelled)
    assert model.trained_on["sports"] == 20 + 30
    assert sum(model.trained_on.values()) == 13 * 20 + 30
    assert model.predict(["Zorbball Finals\nZorbs at dawn."]) == ["sports"]


def test_resolve_category_prefers_the_provider_then_a_confident_prediction() -> None:
    """Provider category > prediction at or above the threshold > "other"."""
    mapped = event(source="yelp", tags=("kids-family",))
    assert resolve_category(mapped, ("music", 0.99)) == "family"
    assert resolve_category(event(), ("music", 0.6)) == "music"
    assert resolve_category(event(), ("music", 0.2)) == "other"
    assert resolve_category(event(), None) == "other"
