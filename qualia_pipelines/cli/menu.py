"""`qualia menu`: the same commands, chosen and filled in interactively."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.prompt import Prompt

from qualia_pipelines.cli.common import SettingsOption, console

_CHOICES = {
    "1": ("list plugins", "list"),
    "2": ("inspect a plugin", "inspect"),
    "3": ("analyze a transcript", "analyze"),
    "4": ("clean a transcript", "process"),
    "5": ("visualize a transcript", "visualize"),
    "6": ("batch-process a folder", "batch"),
    "q": ("quit", ""),
}


def menu(settings_file: Path | None = SettingsOption) -> None:
    """Pick a command from a menu and answer its questions."""
    from qualia_pipelines.cli import app

    while True:
        for key, (label, _) in _CHOICES.items():
            console.print(f"  [bold]{key}[/] {label}")
        choice = Prompt.ask("choose", choices=list(_CHOICES), default="q", console=console)
        command = _CHOICES[choice][1]
        if not command:
            return
        arguments = [command, *_questions(command)]
        if settings_file:
            arguments += ["--settings", str(settings_file)]
        try:
            app(arguments, standalone_mode=False)
        except typer.Exit:
            pass
        except Exception as exc:  # click usage errors: show and return to the menu
            console.print(f"[red]error[/] {exc}")


def _questions(command: str) -> list[str]:
    ask = lambda text, default=None: Prompt.ask(text, default=default, console=console)  # noqa: E731
    if command == "inspect":
        return [ask("plugin id", "word_frequency")]
    if command in ("analyze", "process"):
        default = "word_frequency" if command == "analyze" else "teams_cleaner"
        return [ask("transcript file"), "-p", ask("plugin id", default)]
    if command == "visualize":
        return [
            ask("transcript file"),
            "-p",
            ask("plugin id", "wordcloud_viz"),
            "-o",
            ask("output file", "wordcloud.png"),
        ]
    if command == "batch":
        return [ask("folder or file"), "--out", ask("output folder", "data/outputs")]
    return []
