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


@users.command("passwd")
@click.argument("username")
@click.option("--password", help="The new password (prompted when omitted).")
@click.pass_context
def users_passwd(ctx, username, password):
    """Set USERNAME's password (ends every login of the account; audited)."""
    from coder.study.accounts import AccountError, find_user, set_password
    from coder.study.audit import audit

    database = open_database(ctx)
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with database.session() as db:
        user = find_user(db, username)
        if user is None:
            fail(f"no user {username}")
        try:
            set_password(user, password)
        except AccountError as exc:
            fail(str(exc))
        audit(db, "password_change", user, None, by="command line")
    click.echo(f"password of {username} changed; their logins have ended")


@users.command("reset")
@click.argument("username")
@click.pass_context
def users_reset(ctx, username):
    """Give USERNAME a one-time password, to be changed at the next login (ends every login; audited)."""
    from coder.study.accounts import find_user, reset_password

    with open_database(ctx).session() as db:
        user = find_user(db, username)
        if user is None:
            fail(f"no user {username}")
        password = reset_password(db, user, None)
    click.echo(f"one-time password for {username}: {password}")
    click.echo("they must choose their own when they log in; their logins have ended")


COMMANDS = (users,)
