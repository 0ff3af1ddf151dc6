"""outbox: when the platform last answered a send of each row, for the per-bot channel send-rate cap

Revision ID: 0005_send_rate
Revises: 0004
Create Date: 2026-11-21 23:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0005_send_rate"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attempted_at", storage.types.UTCDateTime(), nullable=True))
        batch.create_index("ix_outbox_send_window", ["channel", "bot_id", "attempted_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_send_window")
        batch.drop_column("attempted_at")
