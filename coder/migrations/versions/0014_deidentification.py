"""de-identification: a dyad's lists of the people to find and the pseudonyms given, a transcript's candidate
identifiers with their decisions and its de-identified version, and the anonymisation log apart from it

Revision ID: 0014
Revises: 0013
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: Union[str, Sequence[str], None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "deidentifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=True),
        sa.Column("applied_revision", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.Integer(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('detected', 'applied')", name=op.f("ck_deidentifications_status")),
        sa.ForeignKeyConstraint(["applied_by"], ["users.id"], name=op.f("fk_deidentifications_applied_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], name=op.f("fk_deidentifications_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"],
                                name=op.f("fk_deidentifications_transcript_id_transcripts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deidentifications")),
        sa.UniqueConstraint("transcript_id", name=op.f("uq_deidentifications_transcript_id")),
    )
    op.create_table(
        "anonymisation_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deidentification_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("first_word", sa.Integer(), nullable=False),
        sa.Column("last_word", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pseudonym", sa.String(length=200), nullable=False),
        sa.Column("entity", sa.String(length=50), nullable=False),
        sa.Column("role", sa.String(length=100), nullable=True),
        sa.Column("recognizer", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deidentification_id"], ["deidentifications.id"],
                                name=op.f("fk_anonymisation_log_deidentification_id_deidentifications"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anonymisation_log")),
    )
    with op.batch_alter_table("anonymisation_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_anonymisation_log_deidentification_id"), ["deidentification_id"],
                              unique=False)
    with op.batch_alter_table("dyads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identifiers", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("pseudonyms", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dyads", schema=None) as batch_op:
        batch_op.drop_column("pseudonyms")
        batch_op.drop_column("identifiers")
    with op.batch_alter_table("anonymisation_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymisation_log_deidentification_id"))
    op.drop_table("anonymisation_log")
    op.drop_table("deidentifications")
