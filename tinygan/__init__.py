"""tinygan: Generative Adversarial Networks from scratch in NumPy.

Modules, in reading order: ``backend`` (NumPy or CuPy), ``nn`` (layers), ``losses``,
``optim``, ``gradcheck``.
"""

__version__ = "0.1.0"
