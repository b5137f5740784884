"""The weather network's REST API (Starlette): stations, station records, observations.

Its conventions are its own, as any real API's are: stations are searched with ``q``; lists are paged
(``page``, ``per_page``, at most 100, 10 by default) and sorted oldest first unless ``sort=-time``;
values are metric unless ``units=imperial``; an unknown station is a 404 and an unknown parameter a 400
that names the parameters the endpoint takes. What it rejects it says in its own words; it never says
what a task needs.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .world import ELEMENTS, FEET_PER_METRE, Observation, Station, World

PREFIX = "/v1"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
UNITS = {"metric": {"air_temp": "degC", "humidity": "%", "wind_speed": "m/s", "pressure": "hPa"},
         "imperial": {"air_temp": "degF", "humidity": "%", "wind_speed": "mph", "pressure": "inHg"}}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


def check_parameters(request: Request, endpoint: str, allowed: tuple[str, ...]) -> None:
    for name in request.query_params:
        if name not in allowed:
            raise ApiError(400, f"unknown parameter {name!r} for {endpoint}; allowed: {', '.join(sorted(allowed))}")


def integer(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ApiError(400, f"{name}={text!r}: must be a whole number from {low} to {high}")
    return int(text)


def units_of(request: Request) -> str:
    units = request.query_params.get("units", "metric")
    if units not in UNITS:
        raise ApiError(400, f"units={units!r}: must be one of metric, imperial")
    return units


def page(request: Request, items: list[dict[str, Any]], sort: str) -> dict[str, Any]:
    per_page = integer(request, "per_page", DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE)
    number = integer(request, "page", 1, low=1, high=10_000)
    start = (number - 1) * per_page
    return {"meta": {"total": len(items), "page": number, "per_page": per_page, "sort": sort},
            "data": items[start:start + per_page]}


def converted(element: str, value: float, units: str) -> float:
    if units == "metric":
        return value
    if element == "air_temp":
        return round(value * 9 / 5 + 32, 1)
    if element == "wind_speed":
        return round(value * 2.23694, 1)
    if element == "pressure":
        return round(value * 0.02953, 2)
    return value


def station_summary(station: Station) -> dict[str, Any]:
    return {"id": station.id, "name": station.name, "city": station.city, "region": station.region}


def station_record(station: Station, units: str) -> dict[str, Any]:
    if station.elevation_m is None:
        elevation = None
    elif units == "metric":
        elevation = {"value": station.elevation_m, "unit": "m"}
    else:
        elevation = {"value": round(station.elevation_m * FEET_PER_METRE), "unit": "ft"}
    return {**station_summary(station), "elevation": elevation, "opened": station.opened}


def observation_item(observation: Observation, units: str) -> dict[str, Any]:
    return {"time": observation.time.strftime("%Y-%m-%dT%H:%M:%SZ"), "element": observation.element,
            "value": converted(observation.element, observation.value, units),
            "unit": UNITS[units][observation.element]}


def create_app(world: World) -> Starlette:
    def found(request: Request) -> Station:
        station = world.station(request.path_params["station_id"])
        if station is None:
            raise ApiError(404, f"no station {request.path_params['station_id']!r}")
        return station

    def stations(request: Request) -> dict[str, Any]:
        check_parameters(request, "/stations", ("q", "region", "sort", "page", "per_page"))
        query = request.query_params.get("q", "").strip().lower()
        region = request.query_params.get("region")
        sort = request.query_params.get("sort", "name")
        if sort not in ("name", "-name", "id", "-id"):
            raise ApiError(400, f"sort={sort!r} for /stations: must be one of name, -name, id, -id")
        matches = [s for s in world.stations if (not query or query in s.name.lower() or query in s.city.lower())
                   and (region is None or s.region == region)]
        matches.sort(key=lambda s: s.name if sort.endswith("name") else s.id, reverse=sort.startswith("-"))
        return page(request, [station_summary(s) for s in matches], sort)

    def station(request: Request) -> dict[str, Any]:
        check_parameters(request, "/stations/{id}", ("units",))
        return station_record(found(request), units_of(request))

    def station_observations(request: Request) -> dict[str, Any]:
        check_parameters(request, "/stations/{id}/observations",
                         ("element", "since", "until", "sort", "page", "per_page", "units"))
        record, units = found(request), units_of(request)
        element = request.query_params.get("element")
        if element is not None and element not in ELEMENTS:
            raise ApiError(400, f"element={element!r}: must be one of {', '.join(ELEMENTS)}")
        sort = request.query_params.get("sort", "time")
        if sort not in ("time", "-time"):
            raise ApiError(400, f"sort={sort!r} for observations: must be time or -time")
        since, until = request.query_params.get("since", ""), request.query_params.get("until", "")
        chosen = [o for o in record.observations if (element is None or o.element == element)]
        items = [observation_item(o, units) for o in chosen]
        items = [i for i in items if (not since or i["time"] >= since) and (not until or i["time"] <= until)]
        items.sort(key=lambda item: item["time"], reverse=sort == "-time")
        return page(request, items, sort)

    def endpoint(handler):
        async def respond(request: Request) -> JSONResponse:
            try:
                return JSONResponse(handler(request))
            except ApiError as problem:
                return error(problem.status, problem.message)
        return respond

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return error(404, f"no endpoint {request.url.path}; endpoints: {PREFIX}/stations, {PREFIX}/stations/{{id}}, "
                          f"{PREFIX}/stations/{{id}}/observations")

    return Starlette(routes=[Route(f"{PREFIX}/stations", endpoint(stations)),
                             Route(f"{PREFIX}/stations/{{station_id}}", endpoint(station)),
                             Route(f"{PREFIX}/stations/{{station_id}}/observations", endpoint(station_observations))],
                     exception_handlers={404: not_found})
