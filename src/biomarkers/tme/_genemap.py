"""Find signature genes in a matrix keyed by Ensembl IDs (versioned or not) or symbols.

The shipped table (``assets/signature_genes.tsv``) gives each signature gene's symbol,
Ensembl ID and previous symbols; a user's table (``--gene-map``: a CSV/TSV with a
``symbol`` column and ``gene_id``, ``ensembl_id`` or ``previous_symbols`` columns) adds
to it and wins where both name a matrix ID. A matrix row is matched, in this order, by
the user's ``gene_id``, by its Ensembl ID (version and ``_PAR_Y`` rows aside), by the
current symbol, and last by a previous symbol when no row carries the current one.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..assets import asset_path, load_schema
from ..errors import InputError
from ..log import get_logger

__all__ = ["GeneMap", "GeneMatch", "load_gene_map", "match_genes", "GENE_MAP_ASSET"]

log = get_logger("tme")

GENE_MAP_ASSET = "signature_genes.tsv"
_ENSEMBL = re.compile(r"^(ENS[A-Z]*G\d{11})(\.\d+)?(_PAR_Y)?$")


@dataclass(frozen=True)
class GeneMap:
    """Identifier look-ups toward current symbols."""

    symbols: frozenset[str]
    by_ensembl: dict[str, str]
    by_previous: dict[str, str]
    by_gene_id: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class GeneMatch:
    """Where each wanted symbol is in a matrix: row positions (several rows are summed)."""

    rows: dict[str, tuple[int, ...]]
    how: dict[str, str]               # symbol -> gene_id / ensembl / symbol / previous_symbol
    n_ids: int
    n_matched_ids: int
    id_kind: str                      # ensembl, symbol or mixed


def _read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
            lines = [(i + 1, line) for i, line in enumerate(handle) if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        raise InputError("gene map not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable text table: {exc}", file=path) from None
    if not lines:
        raise InputError("gene map is empty", file=path)
    delimiter = "\t" if "\t" in lines[0][1] else ","
    reader = csv.reader([line for _, line in lines], delimiter=delimiter)
    header = [h.strip() for h in next(reader)]
    rows = []
    for (number, _), cells in zip(lines[1:], reader):
        if len(cells) != len(header):
            raise InputError(f"row has {len(cells)} cells, the header {len(header)}", file=path, row=f"line {number}")
        rows.append((number, {h: c.strip() for h, c in zip(header, cells) if c.strip()}))
    return header, rows


def _validate_rows(path: Path, header: list[str], rows: list[tuple[int, dict[str, str]]]) -> None:
    import jsonschema

    schema = load_schema("signature_genes.schema.json")
    item = schema["items"]
    known = set(item["properties"])
    for column in header:
        if column not in known:
            raise InputError(f"unknown column (signature_genes.schema.json allows {', '.join(item['properties'])})",
                             file=path, row="line 1", field=column)
    if "symbol" not in header:
        raise InputError("required column is missing from the header", file=path, row="line 1", field="symbol")
    validator = jsonschema.Draft202012Validator(item)
    for number, row in rows:
        for err in validator.iter_errors(row):
            field_name = str(err.absolute_path[0]) if err.absolute_path else "symbol"
            raise InputError(err.message if err.validator != "pattern" else f"does not match {err.validator_value}",
                             file=path, row=f"line {number}", field=field_name, value=row.get(field_name))


def load_gene_map(user_map: str | Path | None = None) -> GeneMap:
    """The shipped signature-gene table, extended by a user's table when given."""
    symbols: set[str] = set()
    by_ensembl: dict[str, str] = {}
    by_previous: dict[str, str] = {}
    by_gene_id: dict[str, str] = {}
    sources = []
    for path, is_user in ((asset_path(GENE_MAP_ASSET), False), *(((Path(user_map), True),) if user_map else ())):
        header, rows = _read_table(path)
        _validate_rows(path, header, rows)
        sources.append(str(path) if is_user else f"assets/{GENE_MAP_ASSET}")
        seen_symbol: dict[str, int] = {}
        for number, row in rows:
            symbol = row["symbol"]
            if not is_user and symbol in seen_symbol:
                raise InputError(f"symbol repeats (first on line {seen_symbol[symbol]})", file=path,
                                 row=f"line {number}", field="symbol", value=symbol)
            seen_symbol.setdefault(symbol, number)
            symbols.add(symbol)
            if "ensembl_id" in row:
                _claim(by_ensembl, row["ensembl_id"], symbol, path, number, "ensembl_id", override=is_user)
            if "gene_id" in row:
                _claim(by_gene_id, row["gene_id"], symbol, path, number, "gene_id", override=False)
            for previous in row.get("previous_symbols", "").split(","):
                if previous and previous != symbol:
                    by_previous.setdefault(previous, symbol)
    return GeneMap(frozenset(symbols), by_ensembl, {k: v for k, v in by_previous.items() if k not in symbols},
                   by_gene_id, tuple(sources))


def _claim(table: dict[str, str], key: str, symbol: str, path: Path, number: int, field_name: str, *, override: bool) -> None:
    previous = table.get(key)
    if previous is not None and previous != symbol and not override:
        raise InputError(f"maps to {previous} on an earlier line and to {symbol} here", file=path,
                         row=f"line {number}", field=field_name, value=key)
    table[key] = symbol


def _codes(values: pa.Array, keys: list[str]) -> np.ndarray:
    """Position of each value in ``keys`` (-1 where absent), hashed in Arrow."""
    if not keys:
        return np.full(len(values), -1, dtype=np.int64)
    index = pc.index_in(values, value_set=pa.array(keys, type=pa.string()))
    return pc.fill_null(index, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def match_genes(gene_ids: Sequence[str], wanted: Iterable[str], gene_map: GeneMap) -> GeneMatch:
    """Rows of ``gene_ids`` holding each wanted symbol (absent symbols are left out).

    Vectorised over the IDs (a matrix has some 60,000): the ID rules are string kernels
    and hash look-ups in Arrow; only the matches are handled in Python.
    """
    wanted = list(dict.fromkeys(wanted))
    wanted_set = set(wanted)
    ids = pc.utf8_trim_whitespace(pa.array([str(g) for g in gene_ids], type=pa.string()))
    n = len(ids)
    ensembl = pc.match_substring_regex(ids, _ENSEMBL.pattern).to_numpy(zero_copy_only=False)
    par_y = ensembl & pc.ends_with(ids, "_PAR_Y").to_numpy(zero_copy_only=False)
    base = pc.replace_substring_regex(ids, r"(\.\d+)?(_PAR_Y)?$", "")
    # every rule gives a code into one list of symbols; -1 where the rule says nothing
    symbols = sorted(gene_map.symbols | set(gene_map.by_gene_id.values()) | set(gene_map.by_ensembl.values()))
    position = {sym: i for i, sym in enumerate(symbols)}

    def rule(values: pa.Array, table: dict[str, str]) -> np.ndarray:
        keys = list(table)
        codes = _codes(values, keys)
        target = np.array([position[table[k]] for k in keys] + [-1], dtype=np.int64)
        return target[codes]  # index -1 picks the trailing -1

    user = rule(ids, gene_map.by_gene_id)
    user_base = rule(base, gene_map.by_gene_id)
    user = np.where((user < 0) & ensembl, user_base, user)
    by_ens = np.where(ensembl & ~par_y, rule(base, gene_map.by_ensembl), -1)  # a PAR_Y copy: its X row carries the gene
    by_id = np.where(user >= 0, user, by_ens)
    current = _codes(ids, symbols)
    by_symbol = np.where((by_id < 0) & (current >= 0), current, -1)
    previous_table = {k: v for k, v in gene_map.by_previous.items() if v in position}
    by_previous = np.where((by_id < 0) & (by_symbol < 0), rule(ids, previous_table), -1)

    wanted_codes = {position[s] for s in wanted if s in position}
    rules = [(by_id, None), (by_symbol, "symbol"), (by_previous, "previous_symbol")]
    found_by_rule = []
    for codes, label in rules:
        found: dict[str, list[int]] = {}
        for i in np.flatnonzero(codes >= 0):
            if codes[i] in wanted_codes:
                found.setdefault(symbols[codes[i]], []).append(int(i))
        found_by_rule.append((found, label))
    rows: dict[str, tuple[int, ...]] = {}
    how: dict[str, str] = {}
    for symbol in wanted:
        for found, label in found_by_rule:
            if symbol in found:
                rows[symbol] = tuple(found[symbol])
                how[symbol] = label or ("gene_id" if user[found[symbol][0]] >= 0 else "ensembl")
                break
    n_ensembl = int(ensembl.sum())
    n_matched = int(((by_id >= 0) | (by_symbol >= 0) | (by_previous >= 0)).sum())
    id_kind = "ensembl" if n_ensembl == n else ("symbol" if n_ensembl == 0 else "mixed")
    return GeneMatch(rows, how, n, n_matched, id_kind)
