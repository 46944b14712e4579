"""tinygan: Generative Adversarial Networks from scratch in NumPy.

Modules, in the order of the lessons: ``backend`` (NumPy or CuPy), ``nn`` (layers),
``losses``, ``optim``, ``gradcheck``, ``gan`` (one training iteration), ``models``,
``data``, ``train``, ``checkpoint``, ``sample``, ``classifier`` and ``evaluate`` (judging
samples), ``toy`` and ``theory`` (the GAN theory, checked numerically).
"""

__version__ = "0.1.0"
