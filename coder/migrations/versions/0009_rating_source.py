"""where a rating came from: the rating page ("form") or an imported file ("import")

Revision ID: 0009
Revises: 0008
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=20), server_default="form", nullable=False))
        batch_op.create_check_constraint("source", "source IN ('form', 'import')")


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_ratings_source"), type_="check")
        batch_op.drop_column("source")
