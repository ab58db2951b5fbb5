def read_header(data: bytes) -> int:
    return int.from_bytes(data[:4], "little")
