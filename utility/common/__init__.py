"""Pieces every stage uses: errors a user can act on (``errors``), files written whole or not
at all (``atomic``) and progress bars on a terminal (``progress``). Imports nothing of the
project, so any module may import it."""
