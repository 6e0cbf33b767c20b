"""speaker embeddings, therapist voiceprints, user-supplied speaker turns

Revision ID: 0003
Revises: 0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "voiceprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("speech_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('sample', 'session')", name=op.f("ck_voiceprints_source")),
        sa.ForeignKeyConstraint(["therapist_id"], ["therapists.id"], name=op.f("fk_voiceprints_therapist_id_therapists"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voiceprints")),
    )
    with op.batch_alter_table("voiceprints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voiceprints_therapist_id"), ["therapist_id"], unique=False)
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("embedding", sa.JSON(), nullable=True))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("speaker_turns", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("speaker_turns_source", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("speaker_turns_source")
        batch_op.drop_column("speaker_turns")
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.drop_column("embedding")
    with op.batch_alter_table("voiceprints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voiceprints_therapist_id"))
    op.drop_table("voiceprints")
