"""study coordination: assignment designs, due dates, unit instruments and calibration flags, processing progress

Revision ID: 0005
Revises: 0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "assignment_designs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("raters", sa.JSON(), nullable=False),
        sa.Column("overlap", sa.Float(), nullable=False),
        sa.Column("coders", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_assignment_designs_study_id_studies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instrument_id"], ["instruments.id"],
                                name=op.f("fk_assignment_designs_instrument_id_instruments"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_assignment_designs_actor_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_designs")),
        sa.CheckConstraint("kind IN ('crossed', 'overlap', 'calibration')", name=op.f("ck_assignment_designs_kind")),
    )
    with op.batch_alter_table("assignment_designs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignment_designs_study_id"), ["study_id"], unique=False)
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("design_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_assignments_design_id_assignment_designs"), "assignment_designs",
                                    ["design_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("rating_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instrument_keys", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("calibration", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("progress_s", sa.Float(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("queued_at")
        batch_op.drop_column("progress_s")
    with op.batch_alter_table("rating_units", schema=None) as batch_op:
        batch_op.drop_column("calibration")
        batch_op.drop_column("instrument_keys")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_assignments_design_id_assignment_designs"), type_="foreignkey")
        batch_op.drop_column("design_id")
        batch_op.drop_column("due_at")
    with op.batch_alter_table("assignment_designs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_designs_study_id"))
    op.drop_table("assignment_designs")
