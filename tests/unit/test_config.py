"""Settings: environment beats the config file beats defaults; one-line errors; secrets hidden."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

from scenescout_cli.config import (
    APP_NAME,
    DEFAULT_URLS,
    KEY_VARIABLES,
    URL_VARIABLES,
    Settings,
    load_settings,
)
from scenescout_cli.errors import ConfigError

SECRETS = {
    "TICKETMASTER_API_KEY": "tm-SECRET-1111",
    "EVENTBRITE_TOKEN": "eb-SECRET-2222",
    "YELP_API_KEY": "yelp-SECRET-3333",
    "MEETUP_TOKEN": "meetup-SECRET-4444",
    "GOOGLE_MAPS_API_KEY": "google-SECRET-5555",
}
DB_PASSWORD = "pg-SECRET-6666"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's environment and real config/data directories out of every test."""
    for name in list(os.environ):
        if name.startswith("SCENESCOUT_") or name in KEY_VARIABLES.values():
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    (tmp_path / "cwd").mkdir()


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    return tmp_path / "cwd"


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def config_error(cwd: Path, env: dict[str, str], file_text: str | None = None) -> str:
    """The ConfigError message loading raises, with ``file_text`` in ./scenescout.toml."""
    if file_text is not None:
        write(cwd / "scenescout.toml", file_text)
    with pytest.raises(ConfigError) as info:
        load_settings(env, cwd=cwd)
    return str(info.value)


# ---------------------------------------------------------------- sources and precedence


def test_defaults_without_env_or_file(cwd: Path) -> None:
    """With nothing configured, every field has its default and data lives in the platform dir."""
    settings = load_settings({}, cwd=cwd)
    assert settings.data_dir == platformdirs.user_data_path(APP_NAME)
    assert str(settings.data_dir).startswith(str(cwd.parent / "xdg-data"))
    assert settings.media_dir == settings.data_dir / "media"
    assert settings.embedded_pgdata == settings.data_dir / "pgdata"
    assert settings.database_url is None
    assert all(getattr(settings.keys, name) is None for name in KEY_VARIABLES)
    assert {name: getattr(settings.urls, name) for name in URL_VARIABLES} == DEFAULT_URLS
    assert settings.eventbrite.organizers == settings.eventbrite.venues == ()
    assert settings.geocoder == "nominatim"
    assert settings.allow_private_network is False
    assert settings.config_file is None
    assert settings.warnings == ()


def test_env_beats_file_beats_defaults(cwd: Path) -> None:
    """Each value comes from the environment if set there, else the file, else the default."""
    write(
        cwd / "scenescout.toml",
        """
        database_url = "postgresql://file/db"
        data_dir = "/srv/from-file"
        geocoder = "google"
        [keys]
        yelp = "yelp-from-file"
        meetup = "meetup-from-file"
        [urls]
        yelp = "http://yelp.file.test"
        meetup = "http://meetup.file.test"
        [eventbrite]
        organizers = ["1", "2"]
        """.replace("\n        ", "\n"),
    )
    env = {
        "SCENESCOUT_DATABASE_URL": "postgres://env/db",
        "SCENESCOUT_ALLOW_PRIVATE_NETWORK": "yes",
        "YELP_API_KEY": "yelp-from-env",
        "SCENESCOUT_YELP_URL": "https://yelp.env.test",
        "SCENESCOUT_EVENTBRITE_VENUES": "9",
    }
    settings = load_settings(env, cwd=cwd)
    assert settings.config_file == cwd / "scenescout.toml"
    assert settings.database_url == "postgres://env/db"  # env over file
    assert settings.data_dir == Path("/srv/from-file")  # file over default
    assert settings.geocoder == "google"  # file over default
    assert settings.allow_private_network is True  # env over default
    # Tables merge key by key: the env replaces one entry, the file keeps the others.
    assert settings.keys.yelp == "yelp-from-env"
    assert settings.keys.meetup == "meetup-from-file"
    assert settings.keys.ticketmaster is None
    assert settings.urls.yelp == "https://yelp.env.test"
    assert settings.urls.meetup == "http://meetup.file.test"
    assert settings.urls.ticketmaster == DEFAULT_URLS["ticketmaster"]
    assert settings.eventbrite.organizers == ("1", "2")
    assert settings.eventbrite.venues == ("9",)


def test_overrides_beat_the_environment(cwd: Path) -> None:
    """Command-line overrides win over the environment."""
    settings = load_settings(
        {"SCENESCOUT_GEOCODER": "google"}, cwd=cwd, overrides={"geocoder": "nominatim"}
    )
    assert settings.geocoder == "nominatim"


def test_empty_env_values_are_ignored(cwd: Path) -> None:
    """An empty variable does not shadow the file's value."""
    write(cwd / "scenescout.toml", '[keys]\nyelp = "from-file"\n')
    settings = load_settings({"YELP_API_KEY": "", "SCENESCOUT_DATA_DIR": ""}, cwd=cwd)
    assert settings.keys.yelp == "from-file"
    assert settings.data_dir == platformdirs.user_data_path(APP_NAME)


def test_data_dir_expands_user(cwd: Path) -> None:
    """``~`` in the data directory is expanded."""
    settings = load_settings({"SCENESCOUT_DATA_DIR": "~/scenes"}, cwd=cwd)
    assert settings.data_dir == Path("~/scenes").expanduser()


def test_config_in_cwd_is_found(cwd: Path) -> None:
    """``./scenescout.toml`` is read without ``--config``."""
    path = write(cwd / "scenescout.toml", 'geocoder = "google"\n')
    settings = load_settings({}, cwd=cwd)
    assert settings.config_file == path
    assert settings.geocoder == "google"


def test_user_config_is_found_and_cwd_wins(cwd: Path) -> None:
    """The per-user config file is read when the cwd has none; ./scenescout.toml wins over it."""
    user = write(platformdirs.user_config_path(APP_NAME) / "config.toml", 'geocoder = "google"\n')
    assert load_settings({}, cwd=cwd).config_file == user
    local = write(cwd / "scenescout.toml", 'geocoder = "nominatim"\n')
    settings = load_settings({}, cwd=cwd)
    assert (settings.config_file, settings.geocoder) == (local, "nominatim")


def test_explicit_config_beats_cwd(cwd: Path, tmp_path: Path) -> None:
    """``--config PATH`` is used instead of ./scenescout.toml."""
    write(cwd / "scenescout.toml", 'geocoder = "nominatim"\n')
    explicit = write(tmp_path / "other.toml", 'geocoder = "google"\n')
    settings = load_settings({}, config_file=explicit, cwd=cwd)
    assert (settings.config_file, settings.geocoder) == (explicit, "google")


def test_explicit_config_missing(cwd: Path, tmp_path: Path) -> None:
    """A ``--config`` path that does not exist is a ConfigError naming it."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_settings({}, config_file=missing, cwd=cwd)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_bool_variable_spellings(cwd: Path, value: str, expected: bool) -> None:
    """SCENESCOUT_ALLOW_PRIVATE_NETWORK accepts the usual boolean spellings."""
    settings = load_settings({"SCENESCOUT_ALLOW_PRIVATE_NETWORK": value}, cwd=cwd)
    assert settings.allow_private_network is expected


@pytest.mark.parametrize(
    ("env", "file_text", "expected"),
    [
        ({"SCENESCOUT_EVENTBRITE_ORGANIZERS": " 12, 34 ,,56 "}, None, ("12", "34", "56")),
        ({}, '[eventbrite]\norganizers = ["12", 34]\n', ("12", "34")),
        ({}, '[eventbrite]\norganizers = "12,34"\n', ("12", "34")),
    ],
)
def test_eventbrite_id_lists(
    cwd: Path, env: dict[str, str], file_text: str | None, expected: tuple[str, ...]
) -> None:
    """Eventbrite ids come as comma lists (env or file) or TOML arrays, blanks dropped."""
    if file_text is not None:
        write(cwd / "scenescout.toml", file_text)
    assert load_settings(env, cwd=cwd).eventbrite.organizers == expected


# ---------------------------------------------------------------- errors

FILE = "<file>"  # replaced by the config file's path in the expected origin

ERRORS = [
    # (env, file text, origin named in the message, detail in the message)
    pytest.param(
        {"SCENESCOUT_ALLOW_PRIVATE_NETWORK": "maybe"},
        None,
        "SCENESCOUT_ALLOW_PRIVATE_NETWORK",
        "bool",
        id="bad-bool-env",
    ),
    pytest.param(
        {},
        'allow_private_network = "maybe"\n',
        f"{FILE}: allow_private_network",
        "bool",
        id="bad-bool-file",
    ),
    pytest.param(
        {"SCENESCOUT_GEOCODER": "bing"},
        None,
        "SCENESCOUT_GEOCODER",
        "'nominatim' or 'google'",
        id="bad-geocoder-env",
    ),
    pytest.param(
        {},
        'geocoder = "bing"\n',
        f"{FILE}: geocoder",
        "'nominatim' or 'google'",
        id="bad-geocoder-file",
    ),
    pytest.param(
        {"SCENESCOUT_DATABASE_URL": f"mysql://u:{DB_PASSWORD}@h/db"},
        None,
        "SCENESCOUT_DATABASE_URL",
        "postgresql://",
        id="non-postgres-db-env",
    ),
    pytest.param(
        {},
        f'database_url = "sqlite:///{DB_PASSWORD}"\n',
        f"{FILE}: database_url",
        "postgresql://",
        id="non-postgres-db-file",
    ),
    pytest.param(
        {"SCENESCOUT_YELP_URL": "ftp://yelp.test"},
        None,
        "SCENESCOUT_YELP_URL",
        "http:// or https://",
        id="base-url-env",
    ),
    pytest.param(
        {"SCENESCOUT_TICKETMASTER_URL": "https://ok.test"},
        '[urls]\nyelp = "yelp.test/v3"\n',
        f"{FILE}: urls.yelp",
        "http:// or https://",
        id="base-url-file-next-to-env",
    ),
    pytest.param(
        {},
        "bogus = 1\n",
        FILE,
        "extra fields found (bogus)",
        id="unknown-top-level-key",
    ),
    pytest.param(
        {},
        '[keys]\nticketmasterr = "x"\n',
        f"{FILE}: keys",
        "extra fields found (ticketmasterr)",
        id="unknown-nested-key",
    ),
    pytest.param(
        {},
        f'[keys]\nyelp = ["{SECRETS["YELP_API_KEY"]}"]\n',
        f"{FILE}: keys.yelp",
        "expected a string, got list",
        id="key-not-a-string",
    ),
    pytest.param(
        {},
        "[eventbrite]\nvenues = [1.5]\n",
        f"{FILE}: eventbrite.venues",
        "expected a list of ids",
        id="bad-id-list",
    ),
    pytest.param(
        {},
        "data_dir = 5\n",
        f"{FILE}: data_dir",
        "expected a string, got int",
        id="data-dir-not-a-string",
    ),
    pytest.param(
        {},
        "a = {\n",
        FILE,
        "not valid TOML",
        id="invalid-toml",
    ),
    pytest.param(
        {},
        '[keys]\nyelp = "a"\n[keys]\nmeetup = "b"\n',
        FILE,
        "not valid TOML",
        id="duplicate-table",
    ),
]


@pytest.mark.parametrize(("env", "file_text", "origin", "detail"), ERRORS)
def test_config_errors(
    cwd: Path, env: dict[str, str], file_text: str | None, origin: str, detail: str
) -> None:
    """Every bad value is one line that starts with the variable or ``file: key.path``."""
    message = config_error(cwd, env, file_text)
    origin = origin.replace(FILE, str(cwd / "scenescout.toml"))
    assert message.startswith(f"{origin}: "), message
    assert detail in message
    assert "\n" not in message
    assert "\r" not in message
    assert DB_PASSWORD not in message
    assert all(secret not in message for secret in SECRETS.values())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("urls = 5\n", id="int"),
        pytest.param('urls = "https://x.test"\n', id="string"),
    ],
)
def test_urls_not_a_table_is_a_config_error(cwd: Path, text: str) -> None:
    """A config file whose ``urls`` is not a table is a ConfigError naming ``file: urls``."""
    message = config_error(cwd, {}, text)
    assert message.startswith(f"{cwd / 'scenescout.toml'}: urls")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('config_file = "/etc/other.toml"\n', id="config_file"),
        pytest.param('warnings = ["x"]\n', id="warnings"),
    ],
)
def test_internal_fields_are_unknown_file_keys(cwd: Path, text: str) -> None:
    """Only documented settings may appear in the file; internal fields are unknown keys."""
    message = config_error(cwd, {}, text)
    assert "unknown key" in message


# ---------------------------------------------------------------- secrets


def test_secrets_never_in_repr(cwd: Path) -> None:
    """No provider key or database URL shows up in the settings' repr or str."""
    env = {**SECRETS, "SCENESCOUT_DATABASE_URL": f"postgresql://u:{DB_PASSWORD}@db/scenes"}
    settings = load_settings(env, cwd=cwd)
    assert settings.keys.yelp == SECRETS["YELP_API_KEY"]
    assert DB_PASSWORD in (settings.database_url or "")
    for text in (repr(settings), str(settings), repr(settings.keys)):
        assert DB_PASSWORD not in text
        assert all(secret not in text for secret in SECRETS.values()), text


def test_every_key_variable_is_read(cwd: Path) -> None:
    """Each provider's key variable lands on its field."""
    settings = load_settings(SECRETS, cwd=cwd)
    for name, variable in KEY_VARIABLES.items():
        assert getattr(settings.keys, name) == SECRETS[variable]


@pytest.mark.parametrize(
    ("text", "mode", "warns"),
    [
        pytest.param('[keys]\nyelp = "k"\n', 0o644, True, id="keys-world-readable"),
        pytest.param('[keys]\nyelp = "k"\n', 0o640, True, id="keys-group-readable"),
        pytest.param('database_url = "postgresql://u:p@h/d"\n', 0o644, True, id="db-url"),
        pytest.param('[keys]\nyelp = "k"\n', 0o600, False, id="keys-private"),
        pytest.param('geocoder = "google"\n', 0o644, False, id="no-secrets"),
    ],
)
def test_permission_warning(cwd: Path, text: str, mode: int, warns: bool) -> None:
    """A config file holding secrets that others can read yields a chmod 600 warning."""
    path = write(cwd / "scenescout.toml", text, mode)
    settings = load_settings({}, cwd=cwd)
    if warns:
        assert settings.warnings == (
            f"{path} holds secrets and is readable by other users; run: chmod 600 {path}",
        )
    else:
        assert settings.warnings == ()


def test_settings_is_frozen(cwd: Path) -> None:
    """Settings cannot be changed after loading."""
    settings: Settings = load_settings({}, cwd=cwd)
    with pytest.raises(AttributeError):
        settings.geocoder = "google"  # type: ignore[misc]


def test_source_policies_come_from_the_config_file(cwd: Path) -> None:
    """`[sources.<name>]` tables set one source's policy; the others keep the defaults."""
    (cwd / "scenescout.toml").write_text(
        "[sources.ticketmaster]\nrate_per_second = 2\nmax_retries = 6\ndaily_quota = 4000\n"
    )
    settings = load_settings({}, cwd=cwd)
    assert settings.policy("ticketmaster").rate_per_second == 2
    assert settings.policy("ticketmaster").max_retries == 6
    assert settings.policy("ticketmaster").daily_quota == 4000
    assert settings.policy("yelp").max_retries == 4


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("[sources.myspace]\nrate_per_second = 1\n", "sources.myspace: unknown source"),
        ("[sources.ticketmaster]\nrate_per_second = -1\n", "rate_per_second must be positive"),
        ("[sources.ticketmaster]\nrate = 1\n", "extra fields found (rate)"),
        ("sources = 3\n", "sources: expected a table"),
    ],
)
def test_bad_source_policies_are_config_errors(cwd: Path, text: str, detail: str) -> None:
    """A bad `[sources.*]` table is a one-line ConfigError naming it."""
    (cwd / "scenescout.toml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, cwd=cwd)
    assert detail in str(caught.value)
    assert "\n" not in str(caught.value)
