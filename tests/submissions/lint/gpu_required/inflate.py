import sys

import torch


def train_decoder(steps: int) -> torch.nn.Module:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.nn.Linear(4, 4).to(device)


def main() -> None:
    if not torch.cuda.is_available():
        sys.exit("inflate requires GPU")
    net = torch.nn.Linear(4, 4).cuda()
    print(net)


if __name__ == "__main__":
    main()
