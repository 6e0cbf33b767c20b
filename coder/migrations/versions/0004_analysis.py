"""consensus ratings, client variables (outcomes and covariates), stored analyses

Revision ID: 0004
Revises: 0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "consensus_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_unit_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("rating_ids", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["rating_unit_id"], ["rating_units.id"],
                                name=op.f("fk_consensus_ratings_rating_unit_id_rating_units"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["instrument_id"], ["instruments.id"],
                                name=op.f("fk_consensus_ratings_instrument_id_instruments"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["recorded_by"], ["users.id"], name=op.f("fk_consensus_ratings_recorded_by_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consensus_ratings")),
        sa.UniqueConstraint("rating_unit_id", "instrument_id",
                            name=op.f("uq_consensus_ratings_rating_unit_id_instrument_id")),
    )
    with op.batch_alter_table("consensus_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consensus_ratings_rating_unit_id"), ["rating_unit_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consensus_ratings_instrument_id"), ["instrument_id"], unique=False)
    op.create_table(
        "client_variables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value IS NULL OR text IS NULL", name=op.f("ck_client_variables_one_kind")),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name=op.f("fk_client_variables_client_id_clients"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_variables")),
        sa.UniqueConstraint("client_id", "name", name=op.f("uq_client_variables_client_id_name")),
    )
    with op.batch_alter_table("client_variables", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_variables_client_id"), ["client_id"], unique=False)
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("formulas", sa.JSON(), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_analyses_study_id_studies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_analyses_actor_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_analyses_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    for table, columns in (("analyses", ["study_id"]), ("client_variables", ["client_id"]),
                           ("consensus_ratings", ["instrument_id", "rating_unit_id"])):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
