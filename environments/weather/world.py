"""The weather network's world: stations, their observations and their records, generated from a seed.

Everything is made up from the seed (city names from syllables, station ids from letters and digits),
so a world generated from another seed shares no station, city or value with this one: that world is
where a run's sealed test comes from (``WeatherEnvironment.held_out``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

ELEMENTS = ("air_temp", "humidity", "wind_speed", "pressure")
NOW = datetime(2026, 11, 30, 18, 0, tzinfo=timezone.utc)  # the network's clock: the last hour it has data for
FEET_PER_METRE = 3.28084

ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "st", "gr", "th")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
ENDINGS = ("ton", "ford", "holt", "by", "mere", "wick", "dale", "port", "stead", "field", "more", "ley")
KINDS = ("Airport", "Harbour", "Hill", "Field", "Valley", "Point")
REGIONS = ("north", "south", "east", "west", "central", "coast")


@dataclass(frozen=True)
class Observation:
    time: datetime
    element: str
    value: float  # metric: degC, %, m/s, hPa


@dataclass
class Station:
    id: str
    name: str
    city: str
    region: str
    elevation_m: int | None
    opened: str
    observations: list[Observation] = field(default_factory=list)  # oldest first


@dataclass
class World:
    seed: int
    stations: list[Station]
    unserved_cities: list[str]  # cities with no station: the "none" answer of a station lookup

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.stations if s.id.lower() == station_id.lower()), None)


def city_name(rng: random.Random) -> str:
    syllables = rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(("", "r", "n", "l")) + rng.choice(ENDINGS)
    return syllables.capitalize()


def metric_value(rng: random.Random, element: str, base: float) -> float:
    if element == "air_temp":
        return round(base + rng.uniform(-6, 6), 1)
    if element == "humidity":
        return float(rng.randint(30, 100))
    if element == "wind_speed":
        return round(rng.uniform(0, 18), 1)
    return round(rng.uniform(990, 1035), 1)


def observations(rng: random.Random, *, with_temperature: bool) -> list[Observation]:
    """Hourly readings of the last few days, oldest first; every element but air_temp when ``with_temperature``
    is False (a station whose thermometer is out)."""
    hours = rng.randint(18, 40)
    base = rng.uniform(-8, 24)
    elements = [e for e in ELEMENTS if with_temperature or e != "air_temp"]
    found = []
    for back in range(hours, -1, -1):
        time = NOW - timedelta(hours=back)
        for element in elements:
            if rng.random() < 0.8 or (back == 0 and element == "air_temp"):
                found.append(Observation(time, element, metric_value(rng, element, base)))
    return found


def generate(seed: int, stations: int = 90, unserved: int = 30, *, reserved: frozenset[str] = frozenset()) -> World:
    """A world of ``stations`` stations and ``unserved`` cities without one; no city name and no station id in
    ``reserved`` (another world's), so the two worlds share nothing a skill could have memorised."""
    rng = random.Random(seed)
    taken = {name.lower() for name in reserved}
    cities: list[str] = []
    while len(cities) < stations + unserved:
        name = city_name(rng)
        if name.lower() not in taken:
            taken.add(name.lower())
            cities.append(name)
    made = []
    for index, city in enumerate(cities[:stations]):
        while True:
            station_id = "".join(rng.choice("ABCDEFGHJKLMNPRSTVWXZ") for _ in range(2)) + f"{rng.randint(1000, 9999)}"
            if station_id.lower() not in taken:
                taken.add(station_id.lower())
                break
        elevation = None if index % 4 == 3 else rng.randint(2, 2400)
        opened = f"{rng.randint(1950, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        made.append(Station(id=station_id, name=f"{city} {rng.choice(KINDS)}", city=city, region=rng.choice(REGIONS),
                            elevation_m=elevation, opened=opened,
                            observations=observations(rng, with_temperature=index % 4 != 1)))
    return World(seed=seed, stations=made, unserved_cities=cities[stations:])


def identifiers(world: World) -> frozenset[str]:
    """Every city name and station id of ``world``: what a held-out world must not reuse."""
    return frozenset([s.city for s in world.stations] + [s.id for s in world.stations] + world.unserved_cities)


def feet(metres: int) -> int:
    return round(metres * FEET_PER_METRE)
