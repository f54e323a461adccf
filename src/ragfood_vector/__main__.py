"""``python -m ragfood_vector serve ...``: how the launcher runs the service as a subprocess."""

from ragfood_vector.cli import app

if __name__ == "__main__":
    app(prog_name="python -m ragfood_vector")
