"""City presets and ``--near LAT,LON --radius KM`` areas.

Centres are each city's conventional centre; radii cover the built-up metro core.
"""

from __future__ import annotations

from .errors import ConfigError
from .model import Area, City

_PRESETS: dict[str, tuple[str, float, float, float, str, str]] = {
    # slug: (name, lat, lon, radius_km, timezone, country)
    "nyc": ("New York City", 40.7306, -73.9866, 25.0, "America/New_York", "US"),
    "la": ("Los Angeles", 34.0522, -118.2437, 40.0, "America/Los_Angeles", "US"),
    "chicago": ("Chicago", 41.8781, -87.6298, 25.0, "America/Chicago", "US"),
    "sf": ("San Francisco", 37.7749, -122.4194, 15.0, "America/Los_Angeles", "US"),
    "seattle": ("Seattle", 47.6062, -122.3321, 20.0, "America/Los_Angeles", "US"),
    "austin": ("Austin", 30.2672, -97.7431, 25.0, "America/Chicago", "US"),
    "boston": ("Boston", 42.3601, -71.0589, 20.0, "America/New_York", "US"),
    "miami": ("Miami", 25.7617, -80.1918, 25.0, "America/New_York", "US"),
    "london": ("London", 51.5074, -0.1278, 25.0, "Europe/London", "GB"),
    "berlin": ("Berlin", 52.5200, 13.4050, 20.0, "Europe/Berlin", "DE"),
    "paris": ("Paris", 48.8566, 2.3522, 15.0, "Europe/Paris", "FR"),
    "toronto": ("Toronto", 43.6532, -79.3832, 25.0, "America/Toronto", "CA"),
}


def presets() -> list[City]:
    """Every preset, in a stable order."""
    return [city_from_slug(slug) for slug in _PRESETS]


def city_from_slug(slug: str) -> City:
    """The preset named ``slug``; ConfigError names the known slugs otherwise."""
    try:
        name, lat, lon, radius, tz, country = _PRESETS[slug.lower()]
    except KeyError:
        known = ", ".join(_PRESETS)
        raise ConfigError(f"unknown city {slug!r}; known cities: {known}") from None
    return City(
        slug=slug.lower(), name=name, area=Area(lat, lon, radius), timezone=tz, country=country
    )


def city_near(near: str, radius_km: float) -> City:
    """An ad-hoc city from ``LAT,LON`` and a radius; ConfigError on bad values.

    The timezone is UTC until zone lookup from coordinates lands (issue 5).
    """
    try:
        lat_s, lon_s = near.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ConfigError(
            f"--near must be LAT,LON (for example 40.73,-73.99), got {near!r}"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"--near {near!r} is not a point on Earth")
    if not (0 < radius_km <= 500):
        raise ConfigError(f"--radius must be between 0 and 500 km, got {radius_km:g}")
    slug = f"near-{lat:.3f},{lon:.3f}"
    return City(slug=slug, name=slug, area=Area(lat, lon, radius_km), timezone="UTC", country="")
