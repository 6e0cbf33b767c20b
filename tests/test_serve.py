"""coder serve runs the app for the configured database: SQLite by default, PostgreSQL through DATABASE_URL."""
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import free_port


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve(tmp_path, backend, request):
    env = {**os.environ, "CODER_HOME": str(tmp_path / "home")}
    env.pop("DATABASE_URL", None)
    if backend == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    cli = [sys.executable, "-m", "coder.cli"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "users", "add", "coord", "--role", "coordinator", "--password", "a long password"],
                   env=env, check=True, capture_output=True)
    users = subprocess.run([*cli, "users", "list"], env=env, check=True, capture_output=True, text=True).stdout
    assert users.split() == ["coord", "coordinator", "active"]
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                login = urllib.request.urlopen(f"{base}/login", timeout=5)
                break
            except OSError:
                assert server.poll() is None
                time.sleep(0.2)
        assert login.status == 200 and b"Log in" in login.read()
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(f"{base}/", timeout=5)
        assert redirect.value.code == 302 and "/login" in redirect.value.headers["Location"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    if backend == "postgresql":
        assert not (tmp_path / "home" / "coder.db").exists()
