"""LSTM language models: the user's entry point (``gen_lstm_experim``); the model itself is
scaling_laws/models/lstm/, registered as architecture "lstm", trained by core.py's one loop."""
from lstm_model.lstm_experiment_utils import LSTM_WORLD_SIZE, gen_lstm_experim, lstm_width_for

__all__ = ["gen_lstm_experim", "lstm_width_for", "LSTM_WORLD_SIZE"]
