"""``builder import model.keras -o project.json``: the command's work, kept out of
:mod:`builder.cli` so the dispatcher stays thin."""

from __future__ import annotations

from pathlib import Path

from builder.compile.keras_file import KerasImportError


def run_import(source: str, output: str | None = None, *, verify: bool = True,
               force: bool = False) -> str:
    """Imports ``source`` (a ``.keras`` file) and saves it as a project.

    Args:
        source: the ``.keras`` file.
        output: the project file to write; ``source`` with ``.json`` when omitted.
        verify: load the file with Keras (``safe_mode=True``, after vetting its
            config) and check the import against it layer by layer; without it
            Keras is never imported and the config alone is converted.
        force: overwrite ``output`` if it exists.

    Returns:
        The report to print (what was imported, warnings, that weights are not
        part of a project).

    Raises:
        KerasImportError: the file cannot be read or holds layers the catalogue
            cannot represent (nothing is written then).
    """
    from builder import save
    from builder.compile.from_keras import format_report, import_keras

    src = Path(source)
    out = Path(output) if output else src.with_suffix(".json")
    if out.resolve() == src.resolve():
        raise KerasImportError(f"The project would overwrite the model file. "
                               f"Received: -o {out}")
    if out.exists() and not force:
        raise KerasImportError(f"'{out}' exists; pass --force to overwrite it. "
                               f"Received: -o {out}")
    imported = import_keras(src, verify=verify)
    save(imported.project, out)
    return format_report(imported, str(out))
