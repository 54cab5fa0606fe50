"""The OpenAPI 3.1 description of the JSON API, served at ``/api/schema/``.

Written by hand beside the views it describes; ``tests/test_api_schema.py``
runs schemathesis against the live server with it, so a response that drifts
from this document fails the suite.
"""

SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
ISO_TIME = {"type": ["string", "null"], "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}
SECONDS = {"type": "number", "minimum": 0}


def _object(properties, required=None):
    return {"type": "object", "properties": properties, "required": list(required or properties)}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description, media_type="text/plain"):
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


ERROR = _object({"error": {"type": "string"}}, ["error"])
TROPHY_SUMMARY = _object({"slug": SLUG, "name": {"type": "string"}, "combinations": COUNT,
                          "published": {"type": "boolean"}})
TROPHY = _object({
    "slug": SLUG, "name": {"type": "string"}, "combinations": COUNT, "published": {"type": "boolean"},
    "width": {"type": "integer", "minimum": 1}, "height": {"type": "integer", "minimum": 1},
    "format": {"type": "string", "enum": ["JPEG", "PNG", "WEBP"]},
    "slots": {"type": "array", "items": _object({
        "key": {"type": "string"}, "component": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
    })},
})
BUILD_STATE = {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]}
PAST_RUNS = {"oneOf": [{"type": "null"}, _object({
    "runs": COUNT, "median_duration_s": SECONDS, "median_rate_per_s": SECONDS,
    "best_duration_s": SECONDS,
})]}
BUILD_STATUS = _object({
    "id": COUNT, "trophy": SLUG, "state": BUILD_STATE, "total": COUNT, "done": COUNT, "rendered": COUNT,
    "skipped": COUNT, "failed": COUNT, "remaining": COUNT,
    "percent": {"type": "number", "minimum": 0, "maximum": 100},
    "elapsed_s": SECONDS, "rate_per_s": SECONDS, "eta_s": {"type": ["number", "null"], "minimum": 0},
    "started_at": ISO_TIME, "finished_at": ISO_TIME, "stalled_since": ISO_TIME, "past": PAST_RUNS,
})
BUILD_STARTED = _object({"id": COUNT, "url": {"type": "string"}})
BUILD_RUNNING = _object({"error": {"type": "string"}, "id": COUNT, "url": {"type": "string"}})
BUILD_RETRIED = _object({"id": COUNT, "retried_chunks": COUNT, "url": {"type": "string"}})
STATE_COUNTS = {"type": "object", "additionalProperties": COUNT}
THROUGHPUT = _object({
    "id": COUNT, "start": {"type": ["number", "null"]}, "duration_s": SECONDS, "peak_rate": SECONDS,
    "points": {"type": "array", "items": _object({"t": SECONDS, "done": COUNT, "rate": SECONDS})},
})
ACTIVITY = _object({
    "id": COUNT, "state": BUILD_STATE, "chunks": STATE_COUNTS,
    "workers": {"type": "array", "items": _object(
        {"name": {"type": "string"}, "state": {"type": "string"}, "chunks": {"type": "array"}},
    )},
    "failed_chunks": {"type": "array", "items": {"type": "object"}},
    "involved": {"type": ["object", "null"]},
    "can_cancel": {"type": "boolean"}, "can_retry": {"type": "boolean"},
})
LOCKS = _object({
    "exclusive": {"type": "array", "items": _object(
        {"name": {"type": "string"}, "pid": {"type": ["integer", "null"]}, "host": {"type": ["string", "null"]},
         "owner": {"type": ["string", "null"]}, "since": {"type": ["number", "string", "null"]}},
        ["name"])},
    "shared": {"type": "array", "items": _object(
        {"name": {"type": "string"}, "count": COUNT, "holders": {"type": "array"}}, ["name", "count", "holders"])},
    "waiters": {"type": "array"},
    "stats": {"type": "object"},
})
STATS = _object({
    "queues": {"type": "array", "items": _object(
        {key: COUNT for key in ("index", "queued", "started", "finished", "failed", "deferred", "scheduled")}
        | {"name": {"type": "string"}})},
    "workers": {"type": "array", "items": _object(
        {"name": {"type": "string"}, "state": {"type": "string"},
         "queues": {"type": "array", "items": {"type": "string"}}, "current_job": {"type": ["string", "null"]},
         "build": {"type": ["integer", "null"]}, "last_heartbeat": ISO_TIME},
    )},
    "failed_jobs": {"type": "array", "items": _object(
        {"id": {"type": "string"}, "queue": {"type": "string"}, "traceback": {"type": "string"}})},
    "builds": STATE_COUNTS,
    "images": _object({"rendered": COUNT, "skipped": COUNT, "failed": COUNT}),
    "generated_at": {"type": "string", "format": "date-time"},
})
HEALTH = _object({
    "status": {"type": "string", "enum": ["OK", "WARNING", "CRITICAL"]},
    "summary": {"type": "string"},
    "problems": {"type": "array", "items": _object(
        {"status": {"type": "string", "enum": ["WARNING", "CRITICAL"]}, "text": {"type": "string"}})},
    "perfdata": {"type": "object", "additionalProperties": {"type": "number"}},
}, ["status"])

STAFF = [{"session": []}]
STAFF_POST = [{"session": [], "csrf": []}]
FORBIDDEN = _json(_ref("Error"), "Not signed in as staff.")


def _forbidden_without(permission):
    return _json(_ref("Error"), f"Not signed in as staff, or without the permission trophies.{permission}.")
NOT_FOUND = _json(_ref("Error"), "No such trophy or build.")
BUILD_ID = {"name": "build_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
TROPHY_SLUG = {"name": "slug", "in": "path", "required": True, "schema": SLUG}


def _get(summary, ok, parameters=(), security=STAFF, **responses):
    operation = {"summary": summary, "responses": {**({"200": ok} if ok else {}), **responses}, "security": security}
    if parameters:
        operation["parameters"] = list(parameters)
    if security:
        operation["responses"].update({"403": FORBIDDEN})
    return {"get": operation}


def _post(summary, responses, parameters, permission, request_body=None):
    operation = {"summary": summary, "security": STAFF_POST, "parameters": list(parameters),
                 "responses": {**responses, "403": _forbidden_without(permission), "404": NOT_FOUND}}
    if request_body:
        operation["requestBody"] = request_body
    return {"post": operation}


def document():
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "K2 Trophy Builder API",
            "version": "1",
            "description": "The catalog and builds for scripts. Staff endpoints need a staff session "
                           "(the `sessionid` cookie of a login); POSTs also send the CSRF token in `X-CSRFToken` "
                           "and need the permission they name (403 without it). Drafts (unpublished trophies) "
                           "are listed to staff only; to anyone else they do not exist.",
        },
        "paths": {
            "/api/trophies/": _get("Trophies (drafts too: staff only) and their number of combinations.",
                                   _json({"type": "array", "items": _ref("TrophySummary")}, "The trophies.")),
            "/api/trophies/{slug}/": _get("A trophy's size, format and slots in compositing order.",
                                          _json(_ref("Trophy"), "The trophy."), [TROPHY_SLUG], **{"404": NOT_FOUND}),
            "/api/trophies/{slug}/builds/": _post(
                "Start a build of every combination.",
                {"202": _json(_ref("BuildStarted"), "The build is queued."),
                 "400": _json(_ref("Error"), "The trophy cannot be built (no slots, an option without a layer)."),
                 "409": _json(_ref("BuildRunning"), "A build of this trophy is running: its id."),
                 "503": _json(_ref("Error"), "The queue (Redis) is unavailable; nothing was started."),
                 "507": _json(_ref("Error"), "The renders would not fit on the disk; resend with confirm_disk.")},
                [TROPHY_SLUG], "start_build",
                {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"confirm_disk": {"type": "boolean"}}}}}},
            ),
            "/api/builds/{build_id}/": _get("A build's progress.", _json(_ref("BuildStatus"), "The build's status."),
                                            [BUILD_ID], **{"404": NOT_FOUND}),
            "/api/builds/{build_id}/events": _get(
                "The build's status pushed as Server-Sent Events, each `data:` the JSON of /api/builds/N/.",
                _text("The event stream; ends when the build settles.", "text/event-stream"), [BUILD_ID],
                **{"404": NOT_FOUND, "503": _json(_ref("Error"), "Served only by the ASGI server (`k2 serve`).")}),
            "/api/builds/{build_id}/cancel/": _post(
                "Cancel a queued or running build.",
                {"200": _json(_ref("BuildStatus"), "Cancelled: the build's status."),
                 "409": _json(_ref("Error"), "The build has already settled.")}, [BUILD_ID], "cancel_build"),
            "/api/builds/{build_id}/retry/": _post(
                "Queue a build's failed chunks again.",
                {"202": _json(_ref("BuildRetried"), "The failed chunks are queued."),
                 "409": _json(_ref("Error"), "Nothing to retry, or the build is still running.")}, [BUILD_ID],
                "retry_build"),
            "/api/builds/{build_id}/throughput/": _get("Images done over time.", _json(_ref("Throughput"), "Points."),
                                                       [BUILD_ID], **{"404": NOT_FOUND}),
            "/api/builds/{build_id}/activity/": _get("Chunks, workers and failures of a build.",
                                                     _json(_ref("Activity"), "The activity."), [BUILD_ID],
                                                     **{"404": NOT_FOUND}),
            "/api/locks/": _get("Locks held and waited for, and lock counters.", _json(_ref("Locks"), "The locks.")),
            "/api/stats/": _get("Queues, workers, failed jobs, builds and images.", _json(_ref("Stats"), "The stats.")),
            "/healthz": _get(
                "The health verdict: the status word to anyone, everything to loopback or the metrics token.",
                _json(_ref("Health"), "OK or WARNING."), security=[],
                **{"503": _json(_ref("Health"), "CRITICAL.")}),
            "/t/{slug}/image": _get(
                "The picture of one combination (public): a redirect to its file, rendered first if needed.",
                None, [TROPHY_SLUG, {
                    "name": "choices", "in": "query", "required": False, "style": "form", "explode": True,
                    "description": "SLOT=OPTION for each slot; a missing slot takes its first option.",
                    "schema": {"type": "object", "additionalProperties": {"type": "string"}}}],
                security=[],
                **{"302": {"description": "The picture's versioned URL.",
                           "headers": {"Location": {"required": True, "schema": {"type": "string"}}}},
                   "400": _text("An unknown slot or option."),
                   "404": {"description": "No such trophy, a draft (unpublished; staff see it), "
                                          "or it has no slots."},
                   "429": {"description": "Too many renders from this client.",
                           "headers": {"Retry-After": {"required": True, "schema": {"type": "integer"}}}},
                   "503": {"description": "Every render slot of this process is busy.",
                           "headers": {"Retry-After": {"required": True, "schema": {"type": "integer"}}}}}),
        },
        "components": {
            "schemas": {
                "Error": ERROR, "TrophySummary": TROPHY_SUMMARY, "Trophy": TROPHY, "BuildStatus": BUILD_STATUS,
                "BuildStarted": BUILD_STARTED, "BuildRunning": BUILD_RUNNING, "BuildRetried": BUILD_RETRIED,
                "Throughput": THROUGHPUT, "Activity": ACTIVITY, "Locks": LOCKS, "Stats": STATS, "Health": HEALTH,
            },
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
    }
