"""``/docs``: the API reference as one HTML page made here from the OpenAPI document, with no
script at all, on the console's origin.

FastAPI's own ``/docs`` loads Swagger UI from a CDN: third-party code that would run with
the technicians' session on the console's origin. This page is rendered on the server,
escaped, and sent with a policy that allows no script (``default-src 'none'``). Each service
also has its own page and document (``/docs/<service>``, ``/openapi/<service>.json``): the
paths the reverse proxy routes to the service that owns them, so the public origin shows
every service's reference while each process serves only its own routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute

from shared.runtime.responses import security_headers

HEADERS = security_headers(style_src="'unsafe-inline'")
STYLE = ("body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
         "padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .2em}"
         "section{border-top:1px solid #ddd;margin-top:1.5rem}"
         "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;"
         "text-align:left;vertical-align:top}nav a{margin-right:1em}")
METHODS = ("get", "post", "put", "patch", "delete")


def docs_router(title: str, version: str, documents: Mapping[str, Sequence[BaseRoute]],
                all_routes: Sequence[BaseRoute], services: Sequence[str]) -> APIRouter:
    """``/docs`` and ``/openapi.json`` for ``all_routes`` (the process), and
    ``/docs/<name>`` and ``/openapi/<name>.json`` for each of ``documents`` (a service's
    routes); ``services``: every service with a reference, for the page's navigation."""
    router = APIRouter(include_in_schema=False)

    def openapi(routes: Sequence[BaseRoute], name: str | None) -> dict[str, Any]:
        return get_openapi(title=f"{title} {name}" if name else title, version=version,
                           routes=list(routes))

    def add(page_path: str, json_path: str, routes: Sequence[BaseRoute],
            name: str | None) -> None:
        cached: dict[str, Any] = {}

        def document() -> dict[str, Any]:
            if not cached:
                cached.update(openapi(routes, name))
            return cached

        async def page() -> HTMLResponse:
            return HTMLResponse(render(document(), json_path, services), headers=HEADERS)

        async def json_document() -> JSONResponse:
            return JSONResponse(document())

        router.add_api_route(page_path, page, methods=["GET"])
        router.add_api_route(json_path, json_document, methods=["GET"])

    add("/docs", "/openapi.json", all_routes, None)
    for name, routes in documents.items():
        add(f"/docs/{name}", f"/openapi/{name}.json", routes, name)
    return router


def render(document: dict[str, Any], json_path: str, services: Sequence[str]) -> str:
    """The reference page of an OpenAPI document."""
    info = document.get("info", {})
    nav = " ".join(f"<a href='/docs/{escape(name)}'>{escape(name)}</a>" for name in services)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head>"
             f"<body><h1>{escape(info.get('title', 'API'))} {escape(info.get('version', ''))}"
             f"</h1><nav>API of each service: {nav}</nav>"
             f"<p>{escape(info.get('description', ''))} The document itself: "
             f"<a href='{escape(json_path)}'>{escape(json_path)}</a> (OpenAPI "
             f"{escape(document.get('openapi', ''))}).</p>"]
    schemes = document.get("components", {}).get("securitySchemes", {})
    if schemes:
        parts.append("<h2>Authentication</h2><ul>" + "".join(
            f"<li><code>{escape(name)}</code>: {escape(scheme.get('description', ''))}</li>"
            for name, scheme in schemes.items()) + "</ul>")
    for path, operations in document.get("paths", {}).items():
        for method in METHODS:
            if method in operations:
                parts.append(_operation(document, method, path, operations[method]))
    parts.append("</body></html>")
    return "".join(parts)


def _operation(document: dict[str, Any], method: str, path: str,
               operation: dict[str, Any]) -> str:
    security = [name for requirement in operation.get("security", [])
                for name in requirement]
    who = (f"<p>Authentication: {' or '.join(escape(s) for s in security)}</p>"
           if security else "<p>No authentication.</p>")
    parameters = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
        f"<td>{'yes' if p.get('required') else 'no'}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in operation.get("parameters", []))
    body = _body(document, operation.get("requestBody"))
    answers = "".join(
        f"<tr><td>{escape(code)}</td><td>{escape(answer.get('description', ''))}</td>"
        f"<td>{escape(_schema_names(document, answer))}</td></tr>"
        for code, answer in operation.get("responses", {}).items())
    return (f"<section><h2><code>{method.upper()} {escape(path)}</code></h2>"
            f"<p>{escape(operation.get('summary', ''))}</p>"
            f"<p>{escape(operation.get('description', ''))}</p>{who}"
            + (f"<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>required</th>"
               f"<th>description</th></tr>{parameters}</table>" if parameters else "")
            + body
            + f"<h3>Answers</h3><table><tr><th>status</th><th>meaning</th><th>body</th></tr>"
              f"{answers}</table></section>")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document.get("components", {}).get("schemas", {}).get(
            schema["$ref"].rsplit("/", 1)[1], {})
    return schema


def _body(document: dict[str, Any], request_body: dict[str, Any] | None) -> str:
    if not request_body:
        return ""
    rows = []
    for media, content in request_body.get("content", {}).items():
        schema = _resolve(document, content.get("schema", {}))
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            field = _resolve(document, field)
            kind = field.get("type") or " | ".join(
                str(option.get("type", "object")) for option in field.get("anyOf", []))
            if field.get("format"):
                kind = f"{kind} ({field['format']})"
            elif field.get("enum"):
                kind = f"{kind}: {', '.join(str(value) for value in field['enum'])}"
            rows.append(f"<tr><td><code>{escape(name)}</code></td><td>{escape(str(kind))}"
                        f"</td><td>{'yes' if name in required else 'no'}</td>"
                        f"<td>{escape(field.get('description', ''))}</td></tr>")
        return (f"<h3>Body ({escape(media)})</h3><table><tr><th>field</th><th>type</th>"
                f"<th>required</th><th>description</th></tr>{''.join(rows)}</table>")
    return ""


def _schema_names(document: dict[str, Any], answer: dict[str, Any]) -> str:
    names = []
    for media, content in answer.get("content", {}).items():
        schema = content.get("schema", {})
        ref = schema.get("$ref") or next(
            (option.get("$ref") for option in schema.get("anyOf", []) if "$ref" in option), None)
        names.append(f"{media}: {ref.rsplit('/', 1)[1] if ref else schema.get('type', '')}")
    return "; ".join(names)
