"""The fixture models of tests/fixtures/python, copied from tools/make_python_fixtures.py
(the Conv1D is its local copy of transformers.pytorch_utils.Conv1D). Imported only when torch
is installed; the weights come from the fixtures' safetensors files."""

import torch
from torch import nn


class SmallCNN(nn.Module):
    """3x8x8 input. ESD sizes: conv 27 and 144 eigenvalues, fc1 64, fc2 10."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3),  # M*rf = 3*9 = 27
            nn.BatchNorm2d(16),  # 'norm' -> skipped, still takes a layer_id
            nn.ReLU(),
            nn.Conv2d(16, 32, 3),  # M*rf = 16*9 = 144
            nn.ReLU(),
        )
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)  # 512 x 64
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(self.flatten(self.features(x))))))


class LSTMLM(nn.Module):
    """Embedding + 1-layer LSTM + Linear. The LSTM's weight_ih_l0/weight_hh_l0 are not layers
    for weightwatcher (the nn.LSTM module has no `weight`; the keys do not end in '.weight')."""

    def __init__(self, vocab=100, dim=32, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)  # 100 x 32
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)  # 100 x 48

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.decoder(out)


class TinyTransformer(nn.Module):
    """Embedding + 2 x nn.TransformerEncoderLayer + Linear head. MultiheadAttention's
    in_proj_weight is not a layer for weightwatcher; its out_proj (a
    NonDynamicallyQuantizableLinear) is."""

    def __init__(self, vocab=50, d=32, heads=4, ff=64, layers=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)  # 50 x 32
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)  # 50 x 32

    def forward(self, tokens):
        return self.head(self.encoder(self.embed(tokens)))


class Conv1D(nn.Module):
    """Same parameters, init and forward as transformers.pytorch_utils.Conv1D:
    weight (nx, nf) = (in, out), the transpose of nn.Linear's; y = x @ W + b.
    weightwatcher types a module CONV1D because 'conv1d' is in str(type(module)).lower(),
    so this class and Hugging Face's are treated alike."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class GPT2Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.c_attn = Conv1D(3 * d, d)  # weight 32 x 96
        self.c_proj = Conv1D(d, d)  # weight 32 x 32

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, d))


class GPT2MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_fc = Conv1D(4 * d, d)  # weight 32 x 128
        self.c_proj = Conv1D(d, 4 * d)  # weight 128 x 32

    def forward(self, x):
        return self.c_proj(nn.functional.gelu(self.c_fc(x)))


class GPT2Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = GPT2Attention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = GPT2MLP(d)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT2(nn.Module):
    """GPT-2 layout (wte, wpe, h.N.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj},
    ln_f) with lm_head tied to wte, as GPT2LMHeadModel ties them."""

    def __init__(self, vocab=64, ctx=16, d=32, heads=4, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)  # 64 x 32
        self.wpe = nn.Embedding(ctx, d)  # 16 x 32
        self.h = nn.ModuleList([GPT2Block(d, heads) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, tokens):
        pos = torch.arange(tokens.shape[1])
        x = self.wte(tokens) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


CLASSES = {"cnn": SmallCNN, "lstm": LSTMLM, "transformer": TinyTransformer, "gpt2": TinyGPT2}


def load(name, path):
    """The fixture model `name` with the weights of the safetensors file at `path`."""
    from safetensors.torch import load_file

    m = CLASSES[name]()
    m.load_state_dict(load_file(str(path)))
    return m.eval()
