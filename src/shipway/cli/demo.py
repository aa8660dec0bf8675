"""``shipway demo``: set up the hello-service example so that `git push` starts its pipeline."""

from __future__ import annotations

import click

from shipway.cli.common import api_options, load, reports_errors


@click.command()
@click.option("--data-dir", help="Data directory of the running shipway [env SHIPWAY_DATA_DIR].")
@api_options
@reports_errors
def demo(api, data_dir) -> None:
    """Create the example repository, project, hook, config and namespaces (idempotent).

    Needs a running `shipway serve` and an admin token (`shipway token create admin`).
    """
    from shipway.demo.provision import provision

    settings = load({"data_dir": data_dir})
    result = provision(api, settings.data_path, say=lambda m: click.echo(f"  {m}"))
    click.secho("\nthe hello-service demo is ready. Push your first change:", fg="green", bold=True)
    click.echo(f"  git clone {result.bare} hello-service && cd hello-service")
    click.echo("  sed -i 's/version {VERSION}/v{VERSION}, my first change/' app.py")
    click.echo("  git commit -am 'my first change' && git push")
    click.echo(f"then watch the run in the console: {api.url}/")


commands = [demo]
