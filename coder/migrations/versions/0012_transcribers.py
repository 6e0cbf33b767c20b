"""transcribers: an account role for the people who correct transcripts, and the studies each may correct

Revision ID: 0012
Revises: 0011
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "study_transcribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_study_transcribers_study_id_studies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_study_transcribers_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_transcribers")),
        sa.UniqueConstraint("study_id", "user_id", name=op.f("uq_study_transcribers_study_id_user_id")),
    )
    with op.batch_alter_table("study_transcribers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_transcribers_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", "role IN ('coordinator', 'rater', 'transcriber')")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint("role", "role IN ('coordinator', 'rater')")
    with op.batch_alter_table("study_transcribers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_transcribers_user_id"))
    op.drop_table("study_transcribers")
