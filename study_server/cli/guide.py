"""`stylestudy guide`: the guide editor for one manifest on a loopback port."""

from __future__ import annotations

import contextlib
import os
import sys
import webbrowser
from pathlib import Path

import click

from stylestudy.errors import UserError

__all__ = ["commands"]


def _can_open_browser() -> bool:
    """A graphical browser can open (a console browser would take over this terminal)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@click.command("guide")
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--content", metavar="FILE", help="The content image of the pair to open (its "
              "file name or path) [default: the first pair; the page switches pairs].")
@click.option("--style", metavar="FILE", help="The style image of the pair to open.")
@click.option("--port", type=click.IntRange(0, 65535), default=0,
              help="Port on 127.0.0.1 [default: a free one].")
@click.option("--browser/--no-browser", default=True, show_default=True,
              help="Open the page in the default browser when there is one.")
@click.option("--preview-size", type=click.IntRange(32, 1024), default=128, show_default=True,
              help="Long side of a preview.")
@click.option("--preview-iterations", type=click.IntRange(1), default=None,
              help="Iterations per scale of a preview instead of the quick preset's 30.")
def guide_cmd(manifest: str, content: str | None, style: str | None, port: int,
              browser: bool, preview_size: int, preview_iterations: int | None) -> None:
    """Paint STROTSS region guides and place point pairs for a pair of MANIFEST in a
    browser; Save writes the guide PNGs and the manifest's guides entry."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from stylestudy.study_server.guide.views import create_local_app, local_url

    app = create_local_app(Path(manifest), Path(content).name if content else None,
                           Path(style).name if style else None,
                           preview_size=preview_size, preview_iterations=preview_iterations)

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:  # errors are still logged
            pass

    try:
        server = make_server("127.0.0.1", port, app, threaded=True,
                             request_handler=QuietHandler)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    url = local_url(app, server.server_port)
    click.echo(f"guide editor for {manifest}: {url}")
    click.echo("the link works once; Ctrl+C stops the editor")
    sys.stdout.flush()
    if browser and _can_open_browser():
        with contextlib.suppress(webbrowser.Error):  # no usable browser: the link stays
            webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


commands = [guide_cmd]
