import torch


def train(epochs: int) -> None:
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(epochs, dev)


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(torch.zeros(1, device=device))


if __name__ == "__main__":
    main()
