"""Settings: environment first, then a TOML config file, then defaults.

``load_settings`` is called once, at the CLI edge, and returns a frozen ``Settings``.
Every bad value raises ``ConfigError`` with a one-line message that names where the
value came from (variable or ``file: key.path``). Secrets are ``repr=False``.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
import platformdirs

from .errors import ConfigError

APP_NAME = "scenescout"

DEFAULT_URLS = {
    "ticketmaster": "https://app.ticketmaster.com/discovery/v2",
    "eventbrite": "https://www.eventbriteapi.com/v3",
    "yelp": "https://api.yelp.com/v3",
    "meetup": "https://api.meetup.com/gql-ext",
    "google_places": "https://places.googleapis.com/v1",
    "geocoder": "https://nominatim.openstreetmap.org",
}

KEY_VARIABLES = {
    "ticketmaster": "TICKETMASTER_API_KEY",
    "eventbrite": "EVENTBRITE_TOKEN",
    "yelp": "YELP_API_KEY",
    "meetup": "MEETUP_TOKEN",
    "google": "GOOGLE_MAPS_API_KEY",
}

URL_VARIABLES = {
    "ticketmaster": "SCENESCOUT_TICKETMASTER_URL",
    "eventbrite": "SCENESCOUT_EVENTBRITE_URL",
    "yelp": "SCENESCOUT_YELP_URL",
    "meetup": "SCENESCOUT_MEETUP_URL",
    "google_places": "SCENESCOUT_GOOGLE_PLACES_URL",
    "geocoder": "SCENESCOUT_GEOCODER_URL",
}


@attrs.frozen
class Keys:
    """Provider credentials; None means the source is not configured."""

    ticketmaster: str | None = attrs.field(default=None, repr=False)
    eventbrite: str | None = attrs.field(default=None, repr=False)
    yelp: str | None = attrs.field(default=None, repr=False)
    meetup: str | None = attrs.field(default=None, repr=False)
    google: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Urls:
    """Base URL of each API: everything before the provider's documented path."""

    ticketmaster: str = DEFAULT_URLS["ticketmaster"]
    eventbrite: str = DEFAULT_URLS["eventbrite"]
    yelp: str = DEFAULT_URLS["yelp"]
    meetup: str = DEFAULT_URLS["meetup"]
    google_places: str = DEFAULT_URLS["google_places"]
    geocoder: str = DEFAULT_URLS["geocoder"]


@attrs.frozen
class Eventbrite:
    organizers: tuple[str, ...] = ()
    venues: tuple[str, ...] = ()


SOURCE_NAMES = ("google_places", "ticketmaster", "eventbrite", "yelp", "meetup")


@attrs.frozen
class SourcePolicy:
    """How one source is driven; ``[sources.<name>]`` in the config file.

    Unset rates, concurrency and quotas take the adapter's documented defaults.
    """

    rate_per_second: float | None = None
    rate_burst: float | None = None
    concurrency: int | None = None
    daily_quota: int | None = None
    max_retries: int = 4
    backoff_multiplier: float = 2.0
    max_backoff: float = 30.0
    request_timeout: float = 30.0
    query_timeout: float = 600.0
    breaker_threshold: int = 5
    breaker_cooldown: float = 30.0

    def __attrs_post_init__(self) -> None:
        for name in ("rate_per_second", "rate_burst", "concurrency", "daily_quota"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        for name in (
            "backoff_multiplier",
            "max_backoff",
            "request_timeout",
            "query_timeout",
            "breaker_cooldown",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.breaker_threshold < 1:
            raise ValueError("breaker_threshold must be at least 1")


@attrs.frozen
class Settings:
    """Everything a command needs to know about its environment."""

    data_dir: Path
    database_url: str | None = attrs.field(default=None, repr=False)
    keys: Keys = Keys()
    urls: Urls = Urls()
    eventbrite: Eventbrite = Eventbrite()
    geocoder: Literal["nominatim", "google"] = "nominatim"
    allow_private_network: bool = False
    sources: dict[str, SourcePolicy] = attrs.field(factory=dict)
    config_file: Path | None = None
    warnings: tuple[str, ...] = ()

    def policy(self, source: str) -> SourcePolicy:
        """The policy of ``source``: the configured one or the defaults."""
        return self.sources.get(source, SourcePolicy())

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"


def _strict_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def _bool(value: Any, _: type) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"expected a boolean, got {value!r}")

    def _str_tuple(value: Any, _: type) -> tuple[str, ...]:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
            return tuple(str(v) for v in value)
        raise ValueError(f"expected a list of ids, got {value!r}")

    def _str(value: Any, _: type) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return value

    conv.register_structure_hook(bool, _bool)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_tuple)
    conv.register_structure_hook(str, _str)
    conv.register_structure_hook(Path, lambda v, _: Path(_str(v, str)).expanduser())
    return conv


_converter = _strict_converter()

# Config-file layout (TOML):
#   database_url = "postgresql://..."      data_dir = "~/scenescout"
#   geocoder = "nominatim"                 allow_private_network = false
#   [keys]  ticketmaster = "..."  eventbrite = "..."  yelp = "..."  meetup = "..."  google = "..."
#   [urls]  ticketmaster = "http://..."  (any key of Urls)
#   [eventbrite]  organizers = ["123"]  venues = ["456"]
#   [sources.ticketmaster]  rate_per_second = 2  daily_quota = 5000  max_retries = 6  (SourcePolicy)


def _format_exception(exc: BaseException, type_: Any) -> str:
    """cattrs' messages, but our own validators' words where we wrote them."""
    if isinstance(exc, ValueError) and type(exc) is ValueError and str(exc):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    if v := env.get("SCENESCOUT_DATABASE_URL"):
        tree["database_url"] = v
    if v := env.get("SCENESCOUT_DATA_DIR"):
        tree["data_dir"] = v
    if v := env.get("SCENESCOUT_GEOCODER"):
        tree["geocoder"] = v
    if (v := env.get("SCENESCOUT_ALLOW_PRIVATE_NETWORK")) is not None:
        tree["allow_private_network"] = v
    keys = {name: env[var] for name, var in KEY_VARIABLES.items() if env.get(var)}
    if keys:
        tree["keys"] = keys
    urls = {name: env[var] for name, var in URL_VARIABLES.items() if env.get(var)}
    if urls:
        tree["urls"] = urls
    eventbrite = {}
    if v := env.get("SCENESCOUT_EVENTBRITE_ORGANIZERS"):
        eventbrite["organizers"] = v
    if v := env.get("SCENESCOUT_EVENTBRITE_VENUES"):
        eventbrite["venues"] = v
    if eventbrite:
        tree["eventbrite"] = eventbrite
    return tree


def _origin(path: str, env_keys: dict[str, Any], config_file: Path | None) -> str:
    """Names where a bad value came from, for the one-line error."""
    reverse = {
        "database_url": "SCENESCOUT_DATABASE_URL",
        "data_dir": "SCENESCOUT_DATA_DIR",
        "geocoder": "SCENESCOUT_GEOCODER",
        "allow_private_network": "SCENESCOUT_ALLOW_PRIVATE_NETWORK",
        **{f"keys.{k}": v for k, v in KEY_VARIABLES.items()},
        **{f"urls.{k}": v for k, v in URL_VARIABLES.items()},
        "eventbrite.organizers": "SCENESCOUT_EVENTBRITE_ORGANIZERS",
        "eventbrite.venues": "SCENESCOUT_EVENTBRITE_VENUES",
    }
    top, _, rest = path.partition(".")
    in_env = top in env_keys and (not rest or rest in env_keys.get(top, {}))
    if in_env and path in reverse:
        return reverse[path]
    return f"{config_file}: {path}" if config_file else path


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _find_config_file(explicit: Path | None, cwd: Path) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    for candidate in (
        cwd / "scenescout.toml",
        platformdirs.user_config_path(APP_NAME) / "config.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None


def _permission_warning(path: Path, tree: dict[str, Any]) -> str | None:
    if not tree.get("keys") and "database_url" not in tree:
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} holds secrets and is readable by other users; run: chmod 600 {path}"
    return None


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    cwd: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: ``overrides`` (flags) → environment → config file → defaults.

    Raises ConfigError (one line, naming the variable or file key) on any bad value
    or unknown key in the file.
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    path = _find_config_file(config_file, cwd)
    file_tree = _read_toml(path) if path else {}
    env_tree = _from_env(env)
    tree = _merge(_merge(file_tree, env_tree), dict(overrides or {}))
    tree.setdefault("data_dir", str(platformdirs.user_data_path(APP_NAME)))
    for internal in ("config_file", "warnings"):  # fields of Settings, not settings
        if internal in file_tree:
            raise ConfigError(f"{path}: {internal}: unknown key")
    for table in ("keys", "urls", "eventbrite", "sources"):
        if table in tree and not isinstance(tree[table], dict):
            where = _origin(table, env_tree, path)
            raise ConfigError(f"{where}: expected a table ([{table}])")
    if tree.get("geocoder") not in (None, "nominatim", "google"):
        where = _origin("geocoder", env_tree, path)
        raise ConfigError(
            f"{where}: geocoder must be 'nominatim' or 'google', got {tree['geocoder']!r}"
        )
    for name, url in (tree.get("urls") or {}).items():
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            where = _origin(f"urls.{name}", env_tree, path)
            raise ConfigError(f"{where}: base URL must start with http:// or https://")
    for name, policy in (tree.get("sources") or {}).items():
        if name not in SOURCE_NAMES:
            raise ConfigError(
                f"{path}: sources.{name}: unknown source; known: {', '.join(SOURCE_NAMES)}"
            )
        if not isinstance(policy, dict):
            raise ConfigError(f"{path}: sources.{name}: expected a table ([sources.{name}])")
    url = tree.get("database_url")
    if isinstance(url, str) and not url.startswith(("postgresql://", "postgres://")):
        where = _origin("database_url", env_tree, path)
        raise ConfigError(f"{where}: expected a postgresql:// URL")
    try:
        settings = _converter.structure(tree, Settings)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="", format_exception=_format_exception)
        first = messages[0] if messages else str(exc)
        # "invalid value @ $.keys.yelp" → name the origin instead of the JSON path
        detail, _, json_path = first.partition(" @ ")
        dotted = (
            json_path.lstrip("$").lstrip(".").replace("[", ".").replace("]", "").replace("'", "")
        )
        where = _origin(dotted, env_tree, path) if dotted else str(path or "settings")
        raise ConfigError(f"{where}: {detail}") from None
    warnings = []
    if path and (w := _permission_warning(path, file_tree)):
        warnings.append(w)
    return attrs.evolve(settings, config_file=path, warnings=tuple(warnings))
