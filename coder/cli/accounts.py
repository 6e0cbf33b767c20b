"""``coder users``: the coordinator, rater and transcriber accounts."""
from __future__ import annotations

import click

from coder.cli.common import fail, open_database, study_named


@click.group()
def users():
    """Manage coordinator, rater and transcriber accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["coordinator", "rater", "transcriber"]), required=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password", help="Password (prompted when omitted; at least 10 characters).")
@click.option("--study", "studies", multiple=True, metavar="NAME", help="A study the coordinator coordinates (or the transcriber corrects).")
@click.pass_context
def users_add(ctx, username, role, display_name, password, studies):
    """Create an account."""
    from coder.study import access
    from coder.study.accounts import AccountError, create_user

    database = open_database(ctx)
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with database.session() as db:
        try:
            user = create_user(db, username, password, role, display_name)
            for name in studies:
                access.grant(db, study_named(db, name), user, None)
        except (AccountError, access.AccessError) as exc:
            fail(str(exc))
    click.echo(f"created {role} {username}")


@users.command("list")
@click.pass_context
def users_list(ctx):
    """List accounts."""
    from sqlalchemy import select

    from coder.study.models import User

    with open_database(ctx).session() as db:
        for user in db.scalars(select(User).order_by(User.role, User.username)):
            click.echo(f"{user.username}\t{user.role}\t{'active' if user.active else 'inactive'}")


COMMANDS = (users,)
