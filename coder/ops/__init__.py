"""Running an installation: backup and restore (``backup``) and the demo (``demo``)."""
