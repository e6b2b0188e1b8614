"""What a run is told: every flag declared once with its role (checked, resumable or
runtime), the presets per dataset and per model, and the help that shows them (``flags``).
Imports ``common`` and ``model`` (for the variants and model names) only."""
