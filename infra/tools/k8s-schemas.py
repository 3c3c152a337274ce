"""Copies the Kubernetes JSON schemas that PyPI's kubernetes-validate vendors into a directory
kubeconform can load: their `$id`s (https://kubernetes.io/api/...) and `/api/_definitions.json`
references only resolve inside kubernetes-validate, so drop the ids and make the references relative.
Usage: k8s-schemas.py SRC_DIR DEST_DIR  (e.g. .../v1.34.0-local-strict ~/.cache/.../v1.34.0-local-strict)
"""
import json
import os
import sys

src, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
count = 0
for name in sorted(os.listdir(src)):
    if not name.endswith(".json"):
        continue
    with open(os.path.join(src, name)) as f:
        schema = json.load(f)
    schema.pop("$id", None)
    text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
    with open(os.path.join(dest, name), "w") as f:
        f.write(text)
    count += 1
if count == 0:
    sys.exit(f"no schemas in {src}")
print(f"{count} Kubernetes schemas -> {dest}")
