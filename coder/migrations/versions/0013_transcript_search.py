"""transcript search: every transcript's turns in transcript_turns, and a full-text index of them

SQLite: two FTS5 tables over transcript_turns (external content), transcript_turns_fts with diacritics folded
(tokenizer unicode61, remove_diacritics 2) and transcript_turns_fts_exact with them kept, filled by triggers on
transcript_turns. PostgreSQL: a GIN index on the turn's text vector (configuration simple) with diacritics
folded by translate(), the expression coder.study.models.SEARCH_VECTOR (a frozen copy here). The models do not
declare the index (coder.db.unmapped). The turns of the transcripts stored before this migration are written
here, each with its speaker's role.

A later migration that rebuilds transcript_turns in batch mode on SQLite drops the triggers with the old table:
create them again after it.

Revision ID: 0013
Revises: 0012
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: Union[str, Sequence[str], None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FOLD_FROM = ("ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺ"
             "ĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅ"
             "ȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳ" + "".join(chr(c) for c in range(0x300, 0x370)))
FOLD_TO = ("aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiiijjkkll"
           "llllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouuaaiioouuuuuuuuuuaaaaggkkoooojggnnaaaaaaeeee"
           "iiiioooorrrruuuusstthhaaeeooooooooyy")
VECTOR = f"to_tsvector('simple'::regconfig, translate(text, '{FOLD_FROM}', '{FOLD_TO}'))"
FTS = {"transcript_turns_fts": "unicode61 remove_diacritics 2",
       "transcript_turns_fts_exact": "unicode61 remove_diacritics 0"}


def _sqlite_index() -> None:
    for name, tokenizer in FTS.items():
        op.execute(f"CREATE VIRTUAL TABLE {name} USING fts5(text, content='transcript_turns', content_rowid='id', "
                   f"tokenize='{tokenizer}')")
    add = " ".join(f"INSERT INTO {name}(rowid, text) VALUES (new.id, new.text);" for name in FTS)
    remove = " ".join(f"INSERT INTO {name}({name}, rowid, text) VALUES ('delete', old.id, old.text);" for name in FTS)
    op.execute(f"CREATE TRIGGER transcript_turns_fts_insert AFTER INSERT ON transcript_turns BEGIN {add} END")
    op.execute(f"CREATE TRIGGER transcript_turns_fts_delete AFTER DELETE ON transcript_turns BEGIN {remove} END")
    op.execute(f"CREATE TRIGGER transcript_turns_fts_update AFTER UPDATE OF text ON transcript_turns "
               f"BEGIN {remove} {add} END")


def _fill() -> None:
    """The turns of every stored transcript, with their speakers' roles."""
    conn = op.get_bind()
    transcripts = sa.table("transcripts", sa.column("id", sa.Integer), sa.column("segments", sa.JSON))
    speakers = sa.table("speakers", sa.column("transcript_id", sa.Integer), sa.column("label", sa.String),
                        sa.column("role", sa.String))
    turns = sa.table("transcript_turns", sa.column("transcript_id", sa.Integer), sa.column("turn", sa.Integer),
                     sa.column("start_s", sa.Float), sa.column("end_s", sa.Float), sa.column("speaker", sa.String),
                     sa.column("role", sa.String), sa.column("text", sa.Text))
    roles: dict = {}
    for transcript_id, label, role in conn.execute(sa.select(speakers.c.transcript_id, speakers.c.label,
                                                             speakers.c.role)):
        roles[(transcript_id, label)] = role
    ids = list(conn.execute(sa.select(transcripts.c.id).order_by(transcripts.c.id)).scalars())
    for transcript_id in ids:
        segments = conn.execute(sa.select(transcripts.c.segments).where(transcripts.c.id == transcript_id)).scalar()
        rows = [{"transcript_id": transcript_id, "turn": i, "start_s": float(seg.get("start") or 0.0),
                 "end_s": float(seg.get("end") or 0.0), "speaker": seg.get("speaker"),
                 "role": roles.get((transcript_id, seg.get("speaker"))), "text": str(seg.get("text") or "").strip()}
                for i, seg in enumerate(segments or []) if isinstance(seg, dict)]
        if rows:
            conn.execute(turns.insert(), rows)


def upgrade() -> None:
    op.create_table(
        "transcript_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_id", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("speaker", sa.String(length=50), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"],
                                name=op.f("fk_transcript_turns_transcript_id_transcripts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_turns")),
        sa.UniqueConstraint("transcript_id", "turn", name=op.f("uq_transcript_turns_transcript_id_turn")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_index()
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_transcript_turns_fts ON transcript_turns USING gin ({VECTOR})")
    _fill()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS transcript_turns_fts_{trigger}")
        for name in FTS:
            op.execute(f"DROP TABLE IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcript_turns_fts")
    op.drop_table("transcript_turns")
