"""Serve the app with the model loading as the server starts (what `make demo` runs).

    python -m app.serve --server.port 8501 [-- --checkpoint C --data D --runs R --device cuda]

Everything before `--` goes to `streamlit run`, everything after it to the app, as with
`python -m streamlit run app/main.py`. The model starts loading in a background thread of the
server's process before the server takes its first connection (app.engine.warm): the first
question, in whichever session, finds it loaded. Streamlit has no hook of its own that runs
at server start, so this launcher is one.
"""

from __future__ import annotations

import sys

from app import engine, settings

MAIN = settings.ROOT / "app" / "main.py"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    cut = argv.index("--") if "--" in argv else len(argv)
    cfg = settings.load([str(MAIN), *argv[cut + 1 :]])
    engine.warm(cfg.checkpoint, cfg.device)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(MAIN), *argv]
    cli.main()


if __name__ == "__main__":
    main()
