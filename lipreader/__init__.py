"""lipreader: YouTube talk -> word-level lipreading dataset -> ResNet-LSTM word classifier."""

__version__ = "0.1.0"
