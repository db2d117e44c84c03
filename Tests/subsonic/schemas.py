"""The OpenSubsonic OpenAPI schemas, for the test scripts beside this file."""
import json
import pathlib
import urllib.parse

import jsonschema
import referencing
import referencing.jsonschema


def retrieve(uri):
    path = pathlib.Path(urllib.parse.urlparse(uri).path)
    return referencing.Resource.from_contents(json.loads(path.read_text()),
                                              default_specification=referencing.jsonschema.DRAFT7)


REGISTRY = referencing.Registry(retrieve=retrieve)


def schema_for(spec, method):
    """The 200 answer's schema of an endpoint page of the OpenAPI description
    (`spec`: its openapi/ folder)."""
    page = spec / "endpoints" / f"{method}.json"
    answer = json.loads(page.read_text())["get"]["responses"]["200"]
    if "$ref" in answer:  # a shared response (ping's: EmptySubsonicResponse)
        page = (page.parent / answer["$ref"]).resolve()
        answer = json.loads(page.read_text())
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    return {"$ref": (page.parent / ref).resolve().as_uri()}


def validate(spec, method, body):
    """Raises jsonschema.ValidationError when `body` does not fit."""
    jsonschema.Draft7Validator(schema_for(spec, method), registry=REGISTRY).validate(body)
