"""Findings as SARIF 2.1.0, for code-scanning views (GitHub, GitLab, Azure DevOps).

Each result carries the rule, the masked value in its message (never the secret), the file
region, and our fingerprint as a partial fingerprint so that views track it across commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tocsin import __version__
from tocsin.discovery.findings import Finding

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"high": "error", "medium": "warning", "low": "note"}


def to_sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    """One SARIF log with one run."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f in findings:
        if f.rule_id not in rules:
            rules[f.rule_id] = {
                "id": f.rule_id,
                "name": f.kind,
                "shortDescription": {"text": f.title},
                "defaultConfiguration": {"level": "error" if f.category == "secret" else "warning"},
                "properties": {"tags": [f.category, *f.tags]},
            }
        loc = f.location
        region: dict[str, int] = {}
        if loc.line:
            region = {"startLine": loc.line, "startColumn": max(loc.column, 1)}
            if loc.end_line:
                region["endLine"] = loc.end_line
                region["endColumn"] = max(loc.end_column, 1)
        physical: dict[str, Any] = {"artifactLocation": {"uri": loc.path.replace("\\", "/")}}
        if region:
            physical["region"] = region
        result: dict[str, Any] = {
            "ruleId": f.rule_id,
            "level": _LEVEL.get(f.level, "note"),
            "message": {
                "text": f"{f.title}: {f.masked} ({f.level} confidence "
                f"{f.confidence:.2f}: {', '.join(r.check for r in f.reasons)})"
            },
            "locations": [{"physicalLocation": physical}],
            "partialFingerprints": {"tocsin/v1": f.fingerprint},
            "properties": {"confidence": f.confidence, "kind": f.kind, "hash": f.hash},
        }
        if loc.commit:
            result["properties"]["commit"] = loc.commit
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tocsin",
                        "version": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
