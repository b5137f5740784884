"""The FHIR R4 server: an ASGI app over the world store.

Episodes are told apart by the ``X-Grasp-Episode`` header: writes land in the
episode's own rows, reads see the world plus those rows. Every bad input is a
4xx with an OperationOutcome; a 5xx means a bug in this module.
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .codes import NOW_TEXT
from .search import PARAMETERS, RESOURCE_TYPES, SearchError, build_query, count_query
from .storage import WorldStore, resources
from .subset import Subset
from .validation import validate_resource

EPISODE_HEADER = "x-grasp-episode"
CREATABLE = {"Observation", "MedicationRequest", "ServiceRequest"}
UPDATABLE = {"MedicationRequest", "ServiceRequest"}
FHIR_JSON = "application/fhir+json"


class FhirJSON(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def outcome(status: int, message: str, code: str = "invalid") -> FhirJSON:
    """An OperationOutcome naming the problem, with the matching HTTP status."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return FhirJSON(body, status_code=status)


def create_app(store: WorldStore) -> Starlette:
    """The ASGI app; the same object serves in process and over HTTP."""
    ids = itertools.count(1)
    server_errors: list[str] = []  # every request that raised in here (a bug): app.state.server_errors
    updated_episodes: set[str] = set()

    def base_url(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/fhir/"

    def episode_of(request: Request) -> str:
        return request.headers.get(EPISODE_HEADER) or "anonymous"

    def fetch(rtype: str, rid: str, episode: str) -> dict[str, Any] | None:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(resources.c.body, resources.c.episode).where(
                    resources.c.rtype == rtype,
                    resources.c.rid == rid,
                    (resources.c.episode.is_(None)) | (resources.c.episode == episode),
                )
            ).all()
        rows.sort(key=lambda row: row.episode is None)  # the episode's own version first
        return json.loads(rows[0].body) if rows else None

    def check_type(rtype: str) -> FhirJSON | None:
        if rtype not in RESOURCE_TYPES:
            return outcome(404, f"Unknown resource type '{rtype}'. This server has: {', '.join(RESOURCE_TYPES)}",
                           "not-supported")
        return None

    async def metadata_route(request: Request) -> Response:
        return FhirJSON(capability_statement(base_url(request)))

    async def search_route(request: Request) -> Response:
        rtype = request.path_params["rtype"]
        if problem := check_type(rtype):
            return problem
        return search(request, rtype, parse_qsl(request.url.query, keep_blank_values=True))

    async def compartment_route(request: Request) -> Response:
        """``GET Patient/<id>/<type>?...``: the type-level search restricted to the patient's compartment."""
        rtype, patient = request.path_params["rtype"], request.path_params["pid"]
        if problem := check_type(rtype):
            return problem
        params = parse_qsl(request.url.query, keep_blank_values=True)
        scope = ("_id", patient) if rtype == "Patient" else ("patient", patient)
        return search(request, rtype, [scope, *params], path=f"Patient/{patient}/{rtype}")

    def search(request: Request, rtype: str, params: list[tuple[str, str]], *, path: str | None = None) -> Response:
        episode = episode_of(request)
        try:
            query = build_query(rtype, params, episode, overrides=episode in updated_episodes)
        except SearchError as error:
            return outcome(400, str(error))
        subset = query.subset
        with store.engine.connect() as conn:
            page = [] if subset.count_only else conn.exec_driver_sql(query.sql, tuple(query.params)).all()
            if page or (query.offset == 0 and not subset.count_only):
                total = page[0].total if page else 0
            else:  # past the last page: count separately
                sql, values = count_query(query)
                total = conn.exec_driver_sql(sql, tuple(values)).scalar()
        base = base_url(request)
        own = path or rtype
        links = [{"relation": "self", "url": f"{base}{own}" + (f"?{request.url.query}" if request.url.query else "")}]
        if query.offset + query.count < total and query.count > 0 and not subset.count_only:
            scope = 1 if path else 0  # a compartment's own patient parameter stays in its path
            kept = [(k, v) for k, v in params[scope:] if k not in {"_getpagesoffset", "_count"}]
            kept += [("_getpagesoffset", str(query.offset + query.count)), ("_count", str(query.count))]
            links.append({"relation": "next", "url": f"{base}{own}?{urlencode(kept)}"})
        # Stored JSON is served as is: spliced into the Bundle, never re-encoded.
        # (A subset is the one case that must parse and re-encode each resource.)
        entries = ",".join(
            f'{{"fullUrl":{json.dumps(f"{base}{rtype}/{row.rid}")},"resource":{subsetted(row.body, subset)},'
            '"search":{"mode":"match"}}'
            for row in page
        )
        head = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links},
                          separators=(",", ":"))  # compact, as HAPI serves JSON and as the entries are
        text = head[:-1] + (f',"entry":[{entries}]}}' if entries else "}")
        return Response(text, media_type=FHIR_JSON)

    async def read_route(request: Request) -> Response:
        rtype, rid = request.path_params["rtype"], request.path_params["rid"]
        if problem := check_type(rtype):
            return problem
        resource = fetch(rtype, rid, episode_of(request))
        if resource is None:
            return outcome(404, f"{rtype}/{rid} is not known", "not-found")
        return FhirJSON(resource)

    async def body_of(request: Request) -> dict[str, Any] | FhirJSON:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            return outcome(400, f"The request body is not valid JSON: {error}", "structure")
        if not isinstance(body, dict):
            return outcome(400, "The request body must be a JSON object (a FHIR resource)", "structure")
        return body

    async def create_route(request: Request) -> Response:
        rtype = request.path_params["rtype"]
        if problem := check_type(rtype):
            return problem
        if rtype not in CREATABLE:
            return outcome(405, f"Creating {rtype} is not allowed; this server accepts POST of "
                                f"{', '.join(sorted(CREATABLE))}", "not-supported")
        body = await body_of(request)
        if isinstance(body, FhirJSON):
            return body
        if body.get("resourceType") != rtype:
            return outcome(400, f"resourceType in the body ({body.get('resourceType')!r}) must be {rtype!r}")
        resource = {**body, "id": f"e{next(ids)}", "meta": {"lastUpdated": NOW_TEXT, "versionId": "1"}}
        if problem := validate_resource(resource):
            return outcome(400, f"Invalid {rtype}: {problem}")
        store.insert(resource, episode_of(request))
        location = f"{base_url(request)}{rtype}/{resource['id']}/_history/1"
        return FhirJSON(resource, status_code=201, headers={"Location": location})

    async def update_route(request: Request) -> Response:
        rtype, rid = request.path_params["rtype"], request.path_params["rid"]
        if problem := check_type(rtype):
            return problem
        if rtype not in UPDATABLE:
            return outcome(405, f"Updating {rtype} is not allowed; PUT works on {', '.join(sorted(UPDATABLE))}",
                           "not-supported")
        episode = episode_of(request)
        if fetch(rtype, rid, episode) is None:
            return outcome(404, f"{rtype}/{rid} is not known", "not-found")
        body = await body_of(request)
        if isinstance(body, FhirJSON):
            return body
        if body.get("resourceType") != rtype or str(body.get("id")) != rid:
            return outcome(400, f"The body must be the {rtype} with id {rid!r}")
        resource = {**body, "meta": {"lastUpdated": NOW_TEXT, "versionId": "2"}}
        if problem := validate_resource(resource):
            return outcome(400, f"Invalid {rtype}: {problem}")
        store.insert(resource, episode)
        updated_episodes.add(episode)
        return FhirJSON(resource, status_code=200)

    async def episode_writes(request: Request) -> Response:
        return JSONResponse(store.writes(request.path_params["episode"]))

    async def drop_episode(request: Request) -> Response:
        store.drop_episode(request.path_params["episode"])
        updated_episodes.discard(request.path_params["episode"])
        return Response(status_code=204)

    async def not_found(request: Request, exc: Exception) -> Response:
        return outcome(404, f"No such endpoint: {request.method} {request.url.path}", "not-found")

    async def bad_method(request: Request, exc: Exception) -> Response:
        return outcome(405, f"Method {request.method} is not allowed on {request.url.path}", "not-supported")

    async def server_error(request: Request, exc: Exception) -> Response:
        server_errors.append(f"{request.method} {request.url}: {type(exc).__name__}: {exc}")
        return outcome(500, f"Internal error: {type(exc).__name__}", "exception")

    routes = [
        Route("/fhir/metadata", metadata_route, methods=["GET"]),
        Route("/fhir/{rtype}", search_route, methods=["GET"]),
        Route("/fhir/{rtype}", create_route, methods=["POST"]),
        Route("/fhir/{rtype}/{rid}", read_route, methods=["GET"]),
        Route("/fhir/{rtype}/{rid}", update_route, methods=["PUT"]),
        Route("/fhir/Patient/{pid}/{rtype}", compartment_route, methods=["GET"]),
        Route("/_grasp/episodes/{episode}/writes", episode_writes, methods=["GET"]),
        Route("/_grasp/episodes/{episode}", drop_episode, methods=["DELETE"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: bad_method, 500: server_error})
    app.state.server_errors = server_errors
    return app


def subsetted(body: str, subset: Subset) -> str:
    """The stored JSON of one resource, cut down to what ``subset`` keeps."""
    if not subset.changes_resources:
        return body
    return json.dumps(subset.apply(json.loads(body)), separators=(",", ":"))


def capability_statement(base: str) -> dict[str, Any]:
    rest_resources = []
    for rtype in RESOURCE_TYPES:
        interactions = [{"code": "read"}, {"code": "search-type"}]
        if rtype in CREATABLE:
            interactions.append({"code": "create"})
        if rtype in UPDATABLE:
            interactions.append({"code": "update"})
        rest_resources.append({
            "type": rtype,
            "interaction": interactions,
            "searchParam": [{"name": name, "type": "date" if "date" in name or "authored" in name else "token"}
                            for name in sorted(PARAMETERS[rtype])],
        })
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": NOW_TEXT,
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementation": {"description": "grasp synthetic EHR", "url": base},
        "rest": [{"mode": "server", "resource": rest_resources}],
    }
