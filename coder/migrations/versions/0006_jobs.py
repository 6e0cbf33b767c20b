"""processing jobs: attempts, heartbeats and the worker on each recording; retrying and cancelled statuses

Revision ID: 0006
Revises: 0005
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD = "status IN ('registered', 'queued', 'transcribing', 'transcribed', 'failed')"
NEW = "status IN ('registered', 'queued', 'transcribing', 'retrying', 'transcribed', 'failed', 'cancelled')"


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_recordings_status"), type_="check")
        batch_op.create_check_constraint("status", NEW)


def downgrade() -> None:
    op.execute("UPDATE recordings SET status = 'queued' WHERE status = 'retrying'")
    op.execute("UPDATE recordings SET status = 'registered' WHERE status = 'cancelled'")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_recordings_status"), type_="check")
        batch_op.create_check_constraint("status", OLD)
        batch_op.drop_column("worker")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("attempts")
