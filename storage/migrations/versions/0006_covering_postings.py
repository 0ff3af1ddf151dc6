"""case_ngrams: the look-up index covers case_id, so a duplicate check never reads the table itself

Revision ID: 0006_covering_postings
Revises: 0005_send_rate
Create Date: 2026-11-22 03:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_covering_postings"
down_revision: str | None = "0005_send_rate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_case_ngrams_postings", "case_ngrams", ["scope", "gram", "created_at", "case_id"], unique=False
    )
    op.drop_index("ix_case_ngrams_lookup", table_name="case_ngrams")


def downgrade() -> None:
    op.create_index("ix_case_ngrams_lookup", "case_ngrams", ["scope", "gram", "created_at"], unique=False)
    op.drop_index("ix_case_ngrams_postings", table_name="case_ngrams")
