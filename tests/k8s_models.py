#!/usr/bin/python3
"""Helper of tests/deploy.rs: checks Kubernetes manifests against the API's own object models
(Debian's python3-kubernetes: the generated models of the Kubernetes API, 1.22), offline.

  k8s_models.py FILE.yaml...

Every field of every object must be a field of its model (a misspelt or misplaced key is an
error, where kubectl would reject or silently drop it), every value of the model's type, and
the fields the model requires present. Prints one line per problem; exits 1 if there is one.
"""
import sys

import yaml
from kubernetes import client

KINDS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("batch/v1", "Job"): "V1Job",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}


def check(value, typ, path, errors):
    if typ.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: a list expected")
            return
        for i, v in enumerate(value):
            check(v, typ[5:-1], f"{path}[{i}]", errors)
    elif typ.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: a mapping expected")
            return
        inner = typ[5:-1].split(", ", 1)[1]
        for k, v in value.items():
            check(v, inner, f"{path}.{k}", errors)
    elif typ == "str":
        if not isinstance(value, str):
            errors.append(f"{path}: a string expected, not {value!r}")
    elif typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: a whole number expected, not {value!r}")
    elif typ == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: true or false expected, not {value!r}")
    elif typ in ("object", "datetime", "float"):
        pass  # int-or-string ports, quantities, times
    else:
        model = getattr(client, typ)
        if not isinstance(value, dict):
            errors.append(f"{path}: a {typ} mapping expected")
            return
        names = {json: py for py, json in model.attribute_map.items()}
        for k, v in value.items():
            if k not in names:
                errors.append(f"{path}.{k}: not a field of {typ}")
                continue
            check(v, model.openapi_types[names[k]], f"{path}.{k}", errors)
        try:
            model(**{names[k]: v for k, v in value.items() if k in names})
        except ValueError as e:  # a required field missing, a value not allowed
            errors.append(f"{path}: {e}")


def main():
    errors = []
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            for i, doc in enumerate(yaml.safe_load_all(f)):
                if doc is None:
                    continue
                at = f"{path}[{i}] {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
                typ = KINDS.get((doc.get("apiVersion"), doc.get("kind")))
                if typ is None:
                    errors.append(f"{at}: no model for {doc.get('apiVersion')} {doc.get('kind')}")
                    continue
                check(doc, typ, at, errors)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
