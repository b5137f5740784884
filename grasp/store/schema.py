"""Tables of the grasp database (SQLAlchemy Core).

Library versions are immutable rows; a version's skills are links to skill
revisions, so a skill's history is a query and survives REMOVE and re-ADD.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 4

metadata = MetaData()

meta = Table(
    "grasp_meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)

libraries = Table(
    "libraries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("capacity", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

versions = Table(
    "library_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("library_id", ForeignKey("libraries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("parent", Integer),
    Column("origin", String, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("edit", JSON),
    Column("evidence", JSON),
    Column("content_hash", String, nullable=False),
    Column("idempotency_key", String),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("library_id", "number"),
    UniqueConstraint("library_id", "idempotency_key"),
)

skill_revisions = Table(
    "skill_revisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("library_id", ForeignKey("libraries.id"), nullable=False),
    Column("name", String, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("skill", JSON),  # NULL: removed in this revision
    Column("content_hash", String),
    Column("version", Integer, nullable=False),
    UniqueConstraint("library_id", "name", "revision"),
)

version_skills = Table(
    "version_skills",
    metadata,
    Column("version_id", ForeignKey("library_versions.id"), primary_key=True),
    Column("revision_id", ForeignKey("skill_revisions.id"), primary_key=True),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("library_id", ForeignKey("libraries.id"), nullable=False),
    Column("base_version", Integer, nullable=False),
    Column("result_version", Integer),  # NULL when refused
    Column("origin", String, nullable=False),
    Column("edit", JSON),
    Column("evidence", JSON, nullable=False),
    Column("score", Float),
    Column("accepted", Integer, nullable=False),
    Column("run_id", String),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("stage", String, nullable=False, server_default="gate"),  # schema 4: grasp.store.records.STAGES
)

# -- schema version 2: runs, their episodes and token usage, and the model reply cache ----------
runs = Table(
    "runs",
    metadata,
    Column("id", String, primary_key=True),
    Column("kind", String, nullable=False),  # eval | improve
    Column("environment", String, nullable=False),
    Column("manifest_hash", String),
    Column("library", String),
    Column("config", JSON, nullable=False),
    Column("status", String, nullable=False),  # running | paused | interrupted | finished | failed
    Column("state", JSON),  # the loop's cursor, for resume
    Column("summary", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

episodes = Table(
    "episodes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id"), nullable=False),
    Column("key", String, nullable=False),  # what this episode was for; unique per run, so none runs twice
    Column("phase", String, nullable=False),
    Column("task_id", String, nullable=False),
    Column("family", String, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("invalid", Integer, nullable=False),
    Column("errored", Integer, nullable=False),
    Column("record", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "key"),
)

usage = Table(
    "usage",
    metadata,
    Column("run_id", ForeignKey("runs.id"), primary_key=True),
    Column("role", String, primary_key=True),  # executor | proposer | classifier
    Column("model", String, primary_key=True),
    Column("calls", Integer, nullable=False, default=0),
    Column("cached_calls", Integer, nullable=False, default=0),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=False, default=0.0),
)

model_cache = Table(
    "model_cache",
    metadata,
    Column("key", String, primary_key=True),  # sha256 of model id + full request
    Column("model", String, nullable=False),
    Column("reply", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# -- schema version 3: every environment call a search made (amendment, shortening), outside any episode -----
search_calls = Table(
    "search_calls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("runs.id"), nullable=False),
    Column("phase", String, nullable=False),  # amend | shorten
    Column("task_id", String, nullable=False),
    Column("action", Text, nullable=False),
    Column("outcome", String, nullable=False),  # accepted | failed | invalid | refused
    Column("observation", Text, nullable=False),  # the environment's answer, clipped
    Column("created_at", DateTime(timezone=True), nullable=False),
)
