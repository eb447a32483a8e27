"""Signature definitions (``assets/signatures.yaml`` or a user's copy) as frozen settings.

Each signature is data: its genes and weights, the transform, the scoring method, the
missing-gene tolerance and the citations. Loading validates the YAML against
``assets/signatures.schema.json`` and then the cross-field rules a schema cannot say
(housekeeping genes only for the housekeeping method, a citation key that exists...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..assets import load_config
from ..errors import InputError

__all__ = ["Signature", "load_signatures", "SIGNATURES_ASSET"]

SIGNATURES_ASSET = "signatures.yaml"
_LOG_BASES = {2: 2.0, 10: 10.0, "e": math.e}


@dataclass(frozen=True)
class Signature:
    id: str
    name: str
    method: str
    genes: tuple[str, ...]
    weights: tuple[float, ...]
    log_base: float
    pseudocount: float
    max_missing: int
    cutoff: float | str
    housekeeping: tuple[str, ...] = ()
    max_missing_housekeeping: int = 0
    description: str = ""
    references: tuple[str, ...] = ()
    source: str = ""
    published_cutoff: dict | None = None

    @property
    def all_genes(self) -> tuple[str, ...]:
        """Signature genes then housekeeping genes (each once)."""
        return tuple(dict.fromkeys(self.genes + self.housekeeping))

    @property
    def transform_text(self) -> str:
        base = "ln" if self.log_base == math.e else f"log{self.log_base:g}"
        return f"{base}(x + {self.pseudocount:g})"


def load_signatures(path: str | Path | None = None) -> tuple[Signature, ...]:
    """The bundled signatures, or those of the YAML at ``path``; validated, in file order."""
    source = path or SIGNATURES_ASSET
    raw = load_config(source, "signatures.schema.json")
    references = raw.get("references", {})
    out: list[Signature] = []
    seen: set[str] = set()
    for i, spec in enumerate(raw["signatures"]):
        where = f"signatures.{i}"

        def fail(message: str, field: str, value=None) -> InputError:
            return InputError(message, file=source, field=f"{where}.{field}", value=value)

        if spec["id"] in seen:
            raise fail("signature id repeats", "id", spec["id"])
        seen.add(spec["id"])
        genes = spec["genes"]
        if isinstance(genes, dict):
            names, weights = tuple(genes), tuple(float(w) for w in genes.values())
        else:
            names, weights = tuple(genes), (1.0,) * len(genes)
        housekeeping = tuple(spec.get("housekeeping", ()))
        method = spec["method"]
        if method == "weighted_sum_housekeeping" and not housekeeping:
            raise fail("the weighted_sum_housekeeping method needs housekeeping genes", "housekeeping")
        if method != "weighted_sum_housekeeping" and housekeeping:
            raise fail(f"housekeeping genes are only used by weighted_sum_housekeeping, not {method}", "housekeeping")
        if method == "geometric_mean" and spec["transform"]["log_base"] != "e":
            raise fail("geometric_mean is exp(mean(ln(x + pseudocount))): use log_base e", "transform.log_base",
                       spec["transform"]["log_base"])
        overlap = set(names) & set(housekeeping)
        if overlap:
            raise fail("a gene is both a signature gene and a housekeeping gene", "housekeeping", sorted(overlap)[0])
        if spec["max_missing"] >= len(names):
            raise fail(f"max_missing must be below the number of genes ({len(names)})", "max_missing", spec["max_missing"])
        if housekeeping and spec.get("max_missing_housekeeping", 0) >= len(housekeeping):
            raise fail(f"max_missing_housekeeping must be below the number of housekeeping genes ({len(housekeeping)})",
                       "max_missing_housekeeping", spec.get("max_missing_housekeeping"))
        for key in spec.get("references", ()):
            if key not in references:
                raise fail("reference key is not in the file's references", "references", key)
        published = spec.get("published_cutoff")
        if published and published.get("source") and published["source"] not in references:
            raise fail("reference key is not in the file's references", "published_cutoff.source", published["source"])
        out.append(Signature(
            id=spec["id"], name=spec["name"], method=method, genes=names, weights=weights,
            log_base=_LOG_BASES[spec["transform"]["log_base"]], pseudocount=float(spec["transform"]["pseudocount"]),
            max_missing=int(spec["max_missing"]), cutoff=spec["cutoff"], housekeeping=housekeeping,
            max_missing_housekeeping=int(spec.get("max_missing_housekeeping", 0)),
            description=" ".join(spec.get("description", "").split()),
            references=tuple(references[k] for k in spec.get("references", ())),
            source=" ".join(spec.get("source", "").split()), published_cutoff=published,
        ))
    return tuple(out)
