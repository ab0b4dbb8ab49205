from origin.signing import sign_path, verify

PATH = "/videos/clips/7/stream/v3"


def split(url: str) -> tuple[str, str, str]:
    path, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    return path, params["exp"], params["sig"]


def test_round_trip() -> None:
    path, exp, sig = split(sign_path(PATH, b"key", 60, now=1000))
    assert path == PATH
    assert exp == "1060"
    assert verify(PATH, exp, sig, [b"key"], now=1059) is None


def test_expired() -> None:
    _, exp, sig = split(sign_path(PATH, b"key", 60, now=1000))
    assert verify(PATH, exp, sig, [b"key"], now=1061) == "expired token"


def test_tampered_path_exp_or_sig() -> None:
    _, exp, sig = split(sign_path(PATH, b"key", 60, now=1000))
    assert verify("/videos/clips/8/stream/v3", exp, sig, [b"key"], now=1000) == "invalid token"
    assert verify(PATH, "1061", sig, [b"key"], now=1000) == "invalid token"
    assert verify(PATH, exp, sig[:-1] + ("A" if sig[-1] != "A" else "B"), [b"key"], now=1000) == (
        "invalid token"
    )


def test_missing_or_malformed() -> None:
    assert verify(PATH, None, "x", [b"key"]) == "missing token"
    assert verify(PATH, "1", None, [b"key"]) == "missing token"
    assert verify(PATH, "-5", "x", [b"key"]) == "malformed token"
    assert verify(PATH, "9" * 40, "x", [b"key"]) == "malformed token"


def test_rotation_accepts_any_listed_key() -> None:
    _, exp, sig = split(sign_path(PATH, b"old", 60, now=1000))
    assert verify(PATH, exp, sig, [b"new", b"old"], now=1000) is None
    assert verify(PATH, exp, sig, [b"new"], now=1000) == "invalid token"
