"""The one exception type for errors a user can cause."""

import click


class UserError(click.ClickException):
    """Bad input (file, manifest, request, config): one clear message, exit code 2."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message
