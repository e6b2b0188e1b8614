"""Item features from real content: titles through a pretrained sentence encoder (``text``),
pictures through an ImageNet-trained CNN (``image``), the pinned packages that carry their
weights (``packages``) and the command that turns a user's own titles or pictures into the
feature matrix ``main.py`` reads (``command``, run as ``python -m utility.features``).
A data-preparation step, not a model: numpy or TensorFlow 2.x code is fine here."""
