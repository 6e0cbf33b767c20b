"""access control: the coordinators of each study, the study of each audit event, failed logins

Existing coordinators become coordinators of every existing study, so nobody loses access on upgrade.

Revision ID: 0007
Revises: 0006
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# The study of an audited row, by the row's table; {} is its id (a frozen copy of coder.access.STUDY_OF).
_RECORDING = ("SELECT d.study_id FROM recordings r JOIN sessions s ON s.id = r.session_id "
              "JOIN dyads d ON d.id = s.dyad_id WHERE r.id = ({})")
_UNIT = "SELECT u.recording_id FROM rating_units u WHERE u.id = ({})"
STUDY_OF = {
    "studies": "SELECT id FROM studies WHERE id = ({})",
    "therapists": "SELECT study_id FROM therapists WHERE id = ({})",
    "clients": "SELECT study_id FROM clients WHERE id = ({})",
    "dyads": "SELECT study_id FROM dyads WHERE id = ({})",
    "assignment_designs": "SELECT study_id FROM assignment_designs WHERE id = ({})",
    "analyses": "SELECT study_id FROM analyses WHERE id = ({})",
    "sessions": "SELECT d.study_id FROM sessions s JOIN dyads d ON d.id = s.dyad_id WHERE s.id = ({})",
    "recordings": _RECORDING,
    "transcripts": _RECORDING.format("SELECT t.recording_id FROM transcripts t WHERE t.id = ({})"),
    "rating_units": _RECORDING.format(_UNIT),
    "assignments": _RECORDING.format(_UNIT.format("SELECT a.rating_unit_id FROM assignments a WHERE a.id = ({})")),
    "ratings": _RECORDING.format(_UNIT.format(
        "SELECT a.rating_unit_id FROM ratings g JOIN assignments a ON a.id = g.assignment_id WHERE g.id = ({})")),
    "consensus_ratings": _RECORDING.format(_UNIT.format(
        "SELECT c.rating_unit_id FROM consensus_ratings c WHERE c.id = ({})")),
    "voiceprints": "SELECT t.study_id FROM voiceprints v JOIN therapists t ON t.id = v.therapist_id WHERE v.id = ({})",
    "client_variables": ("SELECT c.study_id FROM client_variables v JOIN clients c ON c.id = v.client_id "
                         "WHERE v.id = ({})"),
}


def upgrade() -> None:
    op.create_table(
        "study_coordinators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], name=op.f("fk_study_coordinators_study_id_studies"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_study_coordinators_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_coordinators")),
        sa.UniqueConstraint("study_id", "user_id", name=op.f("uq_study_coordinators_study_id_user_id")),
    )
    with op.batch_alter_table("study_coordinators", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_coordinators_user_id"), ["user_id"], unique=False)
    op.execute("INSERT INTO study_coordinators (study_id, user_id, added_at) "
               "SELECT s.id, u.id, CURRENT_TIMESTAMP FROM studies s, users u WHERE u.role = 'coordinator'")

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_username"), ["username"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_address"), ["address"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("study_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_events_study_id"), ["study_id"], unique=False)
    for table, sql in STUDY_OF.items():
        op.execute(f"UPDATE audit_events SET study_id = ({sql.format('audit_events.entity_id')}) "
                   f"WHERE entity = '{table}'")


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_study_id"))
        batch_op.drop_column("study_id")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_address"))
        batch_op.drop_index(batch_op.f("ix_login_failures_username"))
    op.drop_table("login_failures")
    with op.batch_alter_table("study_coordinators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_coordinators_user_id"))
    op.drop_table("study_coordinators")
