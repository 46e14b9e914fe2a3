"""The model-config file that ``bulkmod tune`` writes and ``bulkmod train --config`` reads (JSON or YAML).

``{"format": "bulkmod-config/1", "model": "lgbm", "config": {<model constructor options>}, ...}``: the model
is built from it before any data is loaded, so a wrong option fails in a second with the file's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bulkmod.errors import BulkmodError
from bulkmod.io import write_json_atomic

CONFIG_FORMAT = "bulkmod-config/1"


def write_config(path: Path | str, model: str, config: dict[str, Any], **provenance: Any) -> Path:
    """Write a model key and its constructor options, with provenance, as a config file :func:`read_config` reads."""
    write_json_atomic(path, {"format": CONFIG_FORMAT, "model": model, "config": config, **provenance})
    return Path(path)


def read_config(path: Path | str) -> tuple[str, dict[str, Any]]:
    """(model key, constructor options), validated by building the model once."""
    import yaml

    from bulkmod.models import build_model

    path = Path(path)
    if not path.is_file():
        raise BulkmodError(f"{path}: no such config file")
    try:
        text = path.read_text()
        doc = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BulkmodError(f"{path}: not valid JSON/YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or doc.get("format") != CONFIG_FORMAT:
        raise BulkmodError(f"{path}: not a {CONFIG_FORMAT} file (needs format, model and config keys)")
    model, config = doc.get("model"), doc.get("config", {})
    if not isinstance(model, str) or not isinstance(config, dict):
        raise BulkmodError(f"{path}: 'model' must be a registry key and 'config' a mapping of model options")
    if not isinstance(config.get("params", {}), dict):
        raise BulkmodError(f"{path}: config.params must be a mapping of hyper-parameters")
    try:
        build_model(model, **config)
    except BulkmodError as exc:
        raise BulkmodError(f"{path}: {exc}") from None
    return model, config


def merge_config(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Command-line options win over the file's; ``params`` merge key by key."""
    params = base.get("params", {}) | override.get("params", {})
    return base | override | ({"params": params} if params else {})
