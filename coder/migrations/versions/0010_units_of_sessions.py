"""rating units belong to sessions (session_id), and a session without a recording can have units

A unit keeps its recording where it has one; the key (recording_id, session_id) makes sure the recording is
one of the unit's session. A unit without a recording may have no time range.

Revision ID: 0010
Revises: 0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OLD_RANGE = "start_s >= 0 AND end_s > start_s"
NEW_RANGE = "start_s >= 0 AND (end_s > start_s OR (recording_id IS NULL AND end_s = start_s))"


def upgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_recordings_id_session_id"), ["id", "session_id"])
    with op.batch_alter_table("rating_units", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
    op.execute("UPDATE rating_units SET session_id = "
               "(SELECT recordings.session_id FROM recordings WHERE recordings.id = rating_units.recording_id)")
    with op.batch_alter_table("rating_units", schema=None) as batch_op:
        batch_op.alter_column("session_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("recording_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f("ix_rating_units_session_id"), ["session_id"], unique=False)
        batch_op.drop_constraint(batch_op.f("fk_rating_units_recording_id_recordings"), type_="foreignkey")
        batch_op.create_foreign_key(batch_op.f("fk_rating_units_recording_id_session_id_recordings"), "recordings",
                                    ["recording_id", "session_id"], ["id", "session_id"], ondelete="CASCADE")
        batch_op.create_foreign_key(batch_op.f("fk_rating_units_session_id_sessions"), "sessions", ["session_id"],
                                    ["id"], ondelete="CASCADE")
        batch_op.drop_constraint(batch_op.f("ck_rating_units_range"), type_="check")
        batch_op.create_check_constraint("range", NEW_RANGE)


def downgrade() -> None:
    op.execute("DELETE FROM rating_units WHERE recording_id IS NULL")
    with op.batch_alter_table("rating_units", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_rating_units_range"), type_="check")
        batch_op.create_check_constraint("range", OLD_RANGE)
        batch_op.drop_constraint(batch_op.f("fk_rating_units_session_id_sessions"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_rating_units_recording_id_session_id_recordings"), type_="foreignkey")
        batch_op.create_foreign_key(batch_op.f("fk_rating_units_recording_id_recordings"), "recordings",
                                    ["recording_id"], ["id"], ondelete="CASCADE")
        batch_op.drop_index(batch_op.f("ix_rating_units_session_id"))
        batch_op.alter_column("recording_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("session_id")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_recordings_id_session_id"), type_="unique")
