"""transcript review: a transcript's status and current revision, every saved revision, speakers' display names,
and the transcript revision each rating was made with

Revision ID: 0011
Revises: 0010
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "transcript_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_transcript_revisions_author_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"],
                                name=op.f("fk_transcript_revisions_transcript_id_transcripts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_revisions")),
        sa.UniqueConstraint("transcript_id", "number", name=op.f("uq_transcript_revisions_transcript_id_number")),
    )
    with op.batch_alter_table("transcript_revisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transcript_revisions_transcript_id"), ["transcript_id"], unique=False)
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transcript_revision", sa.Integer(), nullable=True))
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=100), nullable=True))
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), server_default="automatic", nullable=False))
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_check_constraint("status", "status IN ('automatic', 'in_review', 'verified')")


def downgrade() -> None:
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_transcripts_status"), type_="check")
        batch_op.drop_column("revision")
        batch_op.drop_column("status")
    with op.batch_alter_table("speakers", schema=None) as batch_op:
        batch_op.drop_column("name")
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_column("transcript_revision")
    with op.batch_alter_table("transcript_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transcript_revisions_transcript_id"))
    op.drop_table("transcript_revisions")
