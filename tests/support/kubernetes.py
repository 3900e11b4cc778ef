"""The Kubernetes manifests rendered and validated offline, as strictly as the API server.

``render`` runs ``kubectl kustomize`` (kustomize v5, built into kubectl; ``.ci/run`` installs a
kubectl into ``.tools/bin`` where none is on the PATH). ``Schemas`` validates every rendered
object against vendored JSON schemas (``tests/data/README.md``): Kubernetes' own, in their
strict form (an unknown field is an error, as with kubectl's default server-side field
validation), and, for custom resources, schemas built here from each CRD's
``openAPIV3Schema`` the way the API server reads a structural schema. CEL rules
(``x-kubernetes-validations``) are not evaluated.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data"
BUILTIN_SCHEMAS = DATA / "kubernetes/v1.32.0-local-strict"
CRDS = DATA / "crds"
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

Manifest = dict[str, Any]


def kubectl() -> str:
    """The kubectl to render with: the project's own (``.tools/bin``), else the PATH's."""
    own = ROOT / ".tools/bin/kubectl"
    found = str(own) if own.is_file() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("no kubectl: run .ci/run's ensure_kubectl, or install kubectl >= 1.27")
    return found


def render(kustomization: Path) -> list[Manifest]:
    """``kubectl kustomize`` of a directory: every object it renders."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(kustomization)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"kustomize failed on {kustomization}:\n{done.stderr}")
    return [obj for obj in yaml.load_all(done.stdout, Loader=yaml.CSafeLoader) if obj]


def pod_specs(objects: list[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, pod spec) of every object that runs pods."""
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"]


class Schemas:
    """A validator for every kind the manifests may use, keyed by (apiVersion, kind)."""

    @cached_property
    def _registry(self) -> Registry[Any]:
        definitions = Resource.from_contents(_load_json(BUILTIN_SCHEMAS / "_definitions.json"))
        registry: Registry[Any] = Registry().with_resource(DEFINITIONS, definitions)
        return registry

    @cached_property
    def _schemas(self) -> dict[tuple[str, str], dict[str, Any]]:
        schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in BUILTIN_SCHEMAS.glob("*.json"):
            if path.name.startswith("_"):
                continue
            schema = _load_json(path)
            [api_version] = schema["properties"]["apiVersion"]["enum"]
            [kind] = schema["properties"]["kind"]["enum"]
            schemas[api_version, kind] = schema
        for path in sorted(CRDS.glob("*.yaml")):
            crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            for version in crd["spec"]["versions"]:
                if version["served"]:
                    key = f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"]
                    schemas[key] = crd_schema(*key, version["schema"]["openAPIV3Schema"])
        return schemas

    def kinds(self) -> set[tuple[str, str]]:
        return set(self._schemas)

    def errors(self, obj: Manifest) -> list[str]:
        """What is wrong with ``obj``, one line per error; an unknown kind is an error."""
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        schema = self._schemas.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if schema is None:
            return [f"{name}: no schema for {obj.get('apiVersion')} {obj.get('kind')}"]
        validator = jsonschema.Draft202012Validator(schema, registry=self._registry)
        return [
            f"{name}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)
        ]


def crd_schema(api_version: str, kind: str, openapi: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a custom resource from its CRD's structural schema."""
    schema = _from_openapi(openapi)
    schema["properties"] |= {
        "apiVersion": {"const": api_version},
        "kind": {"const": kind},
        "metadata": {"$ref": OBJECT_META},
    }
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
    return schema


# What a structural schema says that JSON Schema checks the same way; descriptions, defaults
# and OpenAPI formats (int32, date-time, ...) are left out.
_SAME = {"type", "required", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum",
         "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
         "minProperties", "maxProperties"}  # fmt: skip


def _from_openapi(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: node[key] for key in _SAME if key in node}
    if "properties" in node:
        out["properties"] = {k: _from_openapi(v) for k, v in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        out["items"] = _from_openapi(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _from_openapi(node["additionalProperties"])
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            out[key] = [_from_openapi(v) for v in node[key]]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {}).update(
            apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"$ref": OBJECT_META}
        )
    # The API server drops (and with strict field validation refuses) a field its schema
    # does not name, unless the schema says to keep unknown fields.
    if (
        node.get("type") == "object"
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _load_json(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
