"""The ``stylestudy`` console command: gathers each package's subcommands."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from stylestudy import __version__

#: modules that define a ``commands`` list of click commands or groups
COMMAND_MODULES = (
    "stylestudy.db.cli",
    "stylestudy.generator.cli",
    "stylestudy.generator.weights_cli",
    "stylestudy.generator.preset_cli",
    "stylestudy.generator.translation_cli",
    "stylestudy.study_server.cli.study",
    "stylestudy.study_server.cli.export",
    "stylestudy.study_server.cli.serve",
    "stylestudy.study_server.cli.simulate",
    "stylestudy.study_server.cli.platforms",
    "stylestudy.study_server.cli.guide",
    "stylestudy.analysis.cli",
    "stylestudy.analysis.digits_cli",
    "stylestudy.demo",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stylestudy")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def cli(verbose: bool) -> None:
    """Batch-generate comparison sets, host 2AFC crowd studies, analyse the judgments."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    """Entry point: user errors exit non-zero with one line; Ctrl-C exits 130, never a traceback."""
    try:
        code = cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)

if __name__ == "__main__":
    main()
