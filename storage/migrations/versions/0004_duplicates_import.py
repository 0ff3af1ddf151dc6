"""duplicates: n-gram index and submitters of open cases; one-time codes for subsidy queries

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_ngrams",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("gram", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id", "gram"),
    )
    op.create_index("ix_case_ngrams_lookup", "case_ngrams", ["scope", "gram", "created_at"], unique=False)
    op.create_table(
        "case_people",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("bot_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id", "person"),
    )
    op.create_index("ix_case_people_person", "case_people", ["person", "created_at"], unique=False)
    op.create_table(
        "one_time_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=96), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_one_time_codes_owner"), "one_time_codes", ["owner"], unique=False)
    op.create_index(op.f("ix_one_time_codes_target"), "one_time_codes", ["target"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_one_time_codes_target"), table_name="one_time_codes")
    op.drop_index(op.f("ix_one_time_codes_owner"), table_name="one_time_codes")
    op.drop_table("one_time_codes")
    op.drop_index("ix_case_people_person", table_name="case_people")
    op.drop_table("case_people")
    op.drop_index("ix_case_ngrams_lookup", table_name="case_ngrams")
    op.drop_table("case_ngrams")
