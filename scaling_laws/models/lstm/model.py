"""The torch module of the LSTM language model: embedding, a stacked nn.LSTM, LayerNorm, tied or untied readout."""
from __future__ import annotations

import torch
import torch.nn as nn

from scaling_laws.models.architecture import ConfigLike


def recurrence_in_fp32(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The LSTM's outputs, computed in fp32 even inside an autocast region. Under CUDA autocast cuDNN's RNN is
    cast to fp16 whatever autocast's dtype (bf16 included), and the loop keeps no gradient scaler for fp16:
    small gradients through the recurrence would underflow. docs/lstm.md has the cost on an H200."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        hidden, _ = lstm(x.float())
    return hidden


class LSTMLM(nn.Module):
    """``forward(tokens) -> logits`` for (batch, seq) token ids.

    One ``nn.LSTM`` holds every layer, so on CUDA the whole stack is one cuDNN call over the sequence
    (nn.LSTM keeps its weights in cuDNN's flat layout itself and flattens them again after ``.to(device)``).
    Every training and validation window starts from a zero state: windows are drawn independently
    (training/data.py), so carrying a state from one to the next would carry it across unrelated text.
    """

    def __init__(self, cfg: ConfigLike):
        super().__init__()
        d = cfg.hidden_dim
        self.token_embedding = nn.Embedding(cfg.vocab_size, d)
        self.lstm = nn.LSTM(d, d, num_layers=cfg.num_layers, batch_first=True)
        self.ln_final = nn.LayerNorm(d)
        self.head = None if cfg.tie_embeddings else nn.Linear(d, cfg.vocab_size, bias=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # Embedding and readout N(0, 0.02) as the transformer's; the LSTM keeps torch's U(-1/sqrt(d), 1/sqrt(d)),
        # with the forget-gate bias at 1 (Jozefowicz et al. 2015) so early gradients flow through the cell.
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        if self.head is not None:
            nn.init.normal_(self.head.weight, std=0.02)
        d = self.lstm.hidden_size
        with torch.no_grad():
            for name, param in self.lstm.named_parameters():
                if name.startswith("bias_ih"):  # gate order i, f, g, o; bias_hh adds to it, left as torch sets it
                    param[d:2 * d].fill_(1.0)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = recurrence_in_fp32(self.lstm, self.token_embedding(tokens))
        x = self.ln_final(hidden)
        return x @ self.token_embedding.weight.T if self.head is None else self.head(x)
