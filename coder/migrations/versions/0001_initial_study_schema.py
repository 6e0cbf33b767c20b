"""initial study schema

Revision ID: 0001
Revises: 

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('instruments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_instruments')),
    sa.UniqueConstraint('key', 'version', name=op.f('uq_instruments_key_version'))
    )
    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studies')),
    sa.UniqueConstraint('name', name=op.f('uq_studies_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deactivated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('coordinator', 'rater')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('entity', sa.String(length=100), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    op.create_table('clients',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_clients_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clients')),
    sa.UniqueConstraint('study_id', 'code', name=op.f('uq_clients_study_id_code')),
    sa.UniqueConstraint('study_id', 'id', name=op.f('uq_clients_study_id_id'))
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clients_study_id'), ['study_id'], unique=False)

    op.create_table('therapists',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_therapists_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapists')),
    sa.UniqueConstraint('study_id', 'code', name=op.f('uq_therapists_study_id_code')),
    sa.UniqueConstraint('study_id', 'id', name=op.f('uq_therapists_study_id_id'))
    )
    with op.batch_alter_table('therapists', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_therapists_study_id'), ['study_id'], unique=False)

    op.create_table('dyads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('therapist_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['study_id', 'client_id'], ['clients.study_id', 'clients.id'], name=op.f('fk_dyads_study_id_client_id_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id', 'therapist_id'], ['therapists.study_id', 'therapists.id'], name=op.f('fk_dyads_study_id_therapist_id_therapists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_dyads_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dyads')),
    sa.UniqueConstraint('study_id', 'code', name=op.f('uq_dyads_study_id_code')),
    sa.UniqueConstraint('study_id', 'therapist_id', 'client_id', name=op.f('uq_dyads_study_id_therapist_id_client_id'))
    )
    with op.batch_alter_table('dyads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dyads_study_id'), ['study_id'], unique=False)

    op.create_table('sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dyad_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=True),
    sa.Column('time_point', sa.String(length=100), nullable=True),
    sa.Column('treatment_arm', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('number >= 0', name=op.f('ck_sessions_number_nonnegative')),
    sa.ForeignKeyConstraint(['dyad_id'], ['dyads.id'], name=op.f('fk_sessions_dyad_id_dyads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sa.UniqueConstraint('dyad_id', 'number', name=op.f('uq_sessions_dyad_id_number'))
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_dyad_id'), ['dyad_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('original_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('channels', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('registered', 'queued', 'transcribing', 'transcribed', 'failed')", name=op.f('ck_recordings_status')),
    sa.CheckConstraint('duration_s >= 0', name=op.f('ck_recordings_duration_nonnegative')),
    sa.ForeignKeyConstraint(['session_id'], ['sessions.id'], name=op.f('fk_recordings_session_id_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('sha256', name=op.f('uq_recordings_sha256'))
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recordings_session_id'), ['session_id'], unique=False)

    op.create_table('rating_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('start_s', sa.Float(), nullable=False),
    sa.Column('end_s', sa.Float(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('whole_session', 'fixed_window', 'custom')", name=op.f('ck_rating_units_kind')),
    sa.CheckConstraint('start_s >= 0 AND end_s > start_s', name=op.f('ck_rating_units_range')),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_rating_units_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rating_units'))
    )
    with op.batch_alter_table('rating_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rating_units_recording_id'), ['recording_id'], unique=False)

    op.create_table('transcripts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('engine', sa.String(length=50), nullable=False),
    sa.Column('model', sa.String(length=500), nullable=False),
    sa.Column('language', sa.String(length=20), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('segments', sa.JSON(), nullable=False),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_transcripts_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transcripts')),
    sa.UniqueConstraint('recording_id', 'engine', 'model', name=op.f('uq_transcripts_recording_id_engine_model'))
    )
    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transcripts_recording_id'), ['recording_id'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('rating_unit_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_assignments_instrument_id_instruments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['rater_id'], ['users.id'], name=op.f('fk_assignments_rater_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['rating_unit_id'], ['rating_units.id'], name=op.f('fk_assignments_rating_unit_id_rating_units'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('id', 'rater_id', name=op.f('uq_assignments_id_rater_id')),
    sa.UniqueConstraint('rater_id', 'rating_unit_id', 'instrument_id', name=op.f('uq_assignments_rater_id_rating_unit_id_instrument_id'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_instrument_id'), ['instrument_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_rater_id'), ['rater_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_rating_unit_id'), ['rating_unit_id'], unique=False)

    op.create_table('speakers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transcript_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=50), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=True),
    sa.Column('role_confidence', sa.Float(), nullable=True),
    sa.Column('role_source', sa.String(length=20), nullable=False),
    sa.CheckConstraint("role IS NULL OR role IN ('therapist', 'client')", name=op.f('ck_speakers_role')),
    sa.CheckConstraint("role_source IN ('auto', 'manual')", name=op.f('ck_speakers_role_source')),
    sa.ForeignKeyConstraint(['transcript_id'], ['transcripts.id'], name=op.f('fk_speakers_transcript_id_transcripts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speakers')),
    sa.UniqueConstraint('transcript_id', 'label', name=op.f('uq_speakers_transcript_id_label'))
    )
    with op.batch_alter_table('speakers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speakers_transcript_id'), ['transcript_id'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('rater_id', sa.Integer(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status = 'draft' OR submitted_at IS NOT NULL", name=op.f('ck_ratings_submitted_at')),
    sa.CheckConstraint("status IN ('draft', 'submitted')", name=op.f('ck_ratings_status')),
    sa.ForeignKeyConstraint(['assignment_id', 'rater_id'], ['assignments.id', 'assignments.rater_id'], name=op.f('fk_ratings_assignment_id_rater_id_assignments'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['rater_id'], ['users.id'], name=op.f('fk_ratings_rater_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_ratings_assignment_id'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_rater_id'), ['rater_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_rater_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('speakers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_speakers_transcript_id'))

    op.drop_table('speakers')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_rating_unit_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_rater_id'))
        batch_op.drop_index(batch_op.f('ix_assignments_instrument_id'))

    op.drop_table('assignments')
    with op.batch_alter_table('transcripts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_transcripts_recording_id'))

    op.drop_table('transcripts')
    with op.batch_alter_table('rating_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rating_units_recording_id'))

    op.drop_table('rating_units')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recordings_session_id'))

    op.drop_table('recordings')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_dyad_id'))

    op.drop_table('sessions')
    with op.batch_alter_table('dyads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dyads_study_id'))

    op.drop_table('dyads')
    with op.batch_alter_table('therapists', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_therapists_study_id'))

    op.drop_table('therapists')
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clients_study_id'))

    op.drop_table('clients')
    op.drop_table('audit_events')
    op.drop_table('users')
    op.drop_table('studies')
    op.drop_table('instruments')
