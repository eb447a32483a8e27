"""Custody tables: specimens, events, lineage, issues, completeness (``custody/``)."""

from __future__ import annotations

import pyarrow as pa

from ... import names as N
from .._registry import UTC, Column, Table, register, specimen, studyid, timepoint, usubjid

register(Table(
    name="custody.specimens",
    path="custody/specimens.parquet",
    description="One row per specimen (primary and derived) with its current state.",
    key=(N.SPECIMEN_ID,),
    columns=(
        studyid(), usubjid(), specimen(),
        Column(N.PARENT_SPECIMEN_ID, pa.string(), "Specimen this one was derived or aliquoted from; null for a primary collection"),
        Column("LEVEL", pa.int32(), "Derivation level: 0 primary collection, 1 first derivative, ...", nullable=False),
        Column(N.SPECIMEN_TYPE, pa.string(), "Specimen type (assets/protocol.yaml specimen_types)", nullable=False),
        Column("SPECIMEN_CATEGORY", pa.string(), "tissue, fluid, stool or derivative"),
        timepoint(),
        Column(N.ARMCD, pa.string(), "Randomized arm code", source="randomization list"),
        Column("COLLECTED_AT", UTC, "Collection (or derivation) time, UTC"),
        Column("STATUS", pa.string(), "Current status: COLLECTED, IN_PROCESSING, STORED, IN_TRANSIT, CONSUMED, DISPOSED"),
        Column("SITE", pa.string(), "Site currently holding the specimen"),
        Column("LOCATION", pa.string(), "Current storage position unit/rack/box/row-column"),
        Column("VOLUME_ML", pa.float64(), "Initial volume", unit="mL"),
        Column("FREEZE_THAW_COUNT", pa.int32(), "Number of thaw events so far", nullable=False),
        Column("SPREC", pa.string(), "ISBER SPREC v3.0 code; X marks an element the events do not determine"),
        Column("CONSENT_STATUS", pa.string(), "CONSENTED or WITHDRAWN (subject level)", nullable=False),
        Column("N_EVENTS", pa.int32(), "Effective events (voided events excluded)", nullable=False),
        Column("N_ISSUES", pa.int32(), "Custody findings about this specimen", nullable=False),
    ),
))

register(Table(
    name="custody.events",
    path="custody/events.parquet",
    description="Effective custody events in CDISC SDTM BE (Biospecimen Events) style, corrections applied, voids flagged.",
    key=("EVENT_ID",),
    columns=(
        studyid(), usubjid(),
        Column("BESEQ", pa.int64(), "Sequence number within the ledger", nullable=False),
        Column("BEREFID", pa.string(), "Specimen identifier (reference ID)"),
        Column("BETERM", pa.string(), "Reported event term as exported by the LIMS", nullable=False),
        Column("BEDECOD", pa.string(), "Standardized event: COLLECTED, RECEIVED, PROCESSED, DERIVED, STORED, MOVED, FROZEN, THAWED, SHIPPED, CONSUMED, DISPOSED, CONSENT_WITHDRAWN", nullable=False),
        Column("BECAT", pa.string(), "Event category: COLLECTION, PREPARATION, STORAGE, TRANSPORT, USE, DISPOSITION, CONSENT"),
        Column("BESTDTC", pa.string(), "Event date-time, ISO 8601 with offset, as it happened", nullable=False),
        Column("BEDTC", pa.string(), "Date-time the event was recorded, ISO 8601 with offset"),
        Column("BELOC", pa.string(), "Where: site and storage position"),
        Column("BEPARTY", pa.string(), "Accountable party (site)"),
        Column("BEPRTYID", pa.string(), "Actor identifier (staff ID, never a name)"),
        Column("EVENT_ID", pa.string(), "Event identifier from the LIMS export", nullable=False),
        Column("VOIDED", pa.bool_(), "True when a later VOIDED event cancels this one", nullable=False),
        Column("CORRECTED_BY", pa.string(), "EVENT_ID of the correction applied to this event, if any"),
        Column("DETAILS", pa.string(), "Remaining details (temperature, container, volume, reason...) as canonical JSON"),
        Column("HASH", pa.string(), "SHA-256 of this ledger row (hash chain)", nullable=False),
    ),
))

register(Table(
    name="custody.lineage",
    path="custody/lineage.parquet",
    description="Specimen parent/child relationships in CDISC RELSPEC style.",
    key=("REFID",),
    columns=(
        studyid(), usubjid(),
        Column("REFID", pa.string(), "Specimen identifier", nullable=False),
        Column("SPEC", pa.string(), "Specimen type", nullable=False),
        Column("PARENT", pa.string(), "Parent specimen identifier; null for a primary collection"),
        Column("LEVEL", pa.int32(), "1 for a primary collection, parent's LEVEL + 1 for a derivative (RELSPEC convention)", nullable=False),
    ),
))

register(Table(
    name="custody.issues",
    path="custody/issues.parquet",
    description="Custody findings: rule violations against the protocol and good practice.",
    key=("RULE", N.SPECIMEN_ID, "EVENT_ID"),
    columns=(
        Column("RULE", pa.string(), "Rule identifier (assets/custody_rules.yaml)", nullable=False),
        Column("SEVERITY", pa.string(), "ERROR, WARNING or INFO", nullable=False),
        usubjid(nullable=True), specimen(nullable=True), timepoint(),
        Column("EVENT_ID", pa.string(), "Event the finding is about, if any"),
        Column("MESSAGE", pa.string(), "Plain-language explanation", nullable=False),
    ),
))

register(Table(
    name="custody.completeness",
    path="custody/completeness.parquet",
    description="Expected versus collected specimens: one row per subject, due timepoint and specimen type (expected or collected).",
    key=(N.USUBJID, N.TIMEPOINT, N.SPECIMEN_TYPE),
    columns=(
        studyid(), usubjid(),
        Column(N.ARMCD, pa.string(), "Randomized arm code", source="randomization list"),
        timepoint(nullable=False),
        Column(N.SPECIMEN_TYPE, pa.string(), "Specimen type", nullable=False),
        Column("EXPECTED", pa.bool_(), "The protocol expects this type at this due timepoint for the arm (required, not optional)", nullable=False),
        Column("COLLECTED", pa.bool_(), "At least one specimen of this type exists for the subject at this timepoint", nullable=False),
        Column("N_SPECIMENS", pa.int32(), "Specimens of this type at this timepoint (primary and derived)", nullable=False),
    ),
))
