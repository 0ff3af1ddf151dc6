from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.crypto import Keyring, UnreadableToken, load_or_create_secret

SECRET = "unit-test-secret-0123456789abcdef"


@pytest.fixture
def ring() -> Keyring:
    return Keyring(SECRET, password_cost="fast")


def test_lookup_hash_is_stable_keyed_and_separated_by_purpose(ring: Keyring) -> None:
    value = "11010519491231002X"
    digest = ring.lookup_hash("id_number", value)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == Keyring(SECRET.encode()).lookup_hash("id_number", value)  # str and bytes alike
    assert digest != ring.lookup_hash("sender", value)
    assert digest != Keyring(SECRET + "-other").lookup_hash("id_number", value)
    assert value not in digest


def test_encrypt_round_trips_and_is_randomised(ring: Keyring) -> None:
    token = ring.encrypt("sms:+8613800138000")
    assert "13800138000" not in token
    assert token != ring.encrypt("sms:+8613800138000")
    assert ring.decrypt(token) == "sms:+8613800138000"
    data = {"name": "张三", "phone": "13800138000"}
    assert ring.decrypt_json(ring.encrypt_json(data)) == data


def test_decrypt_refuses_other_keys_and_tampering(ring: Keyring) -> None:
    token = ring.encrypt("secret")
    with pytest.raises(UnreadableToken):
        Keyring(SECRET + "-other").decrypt(token)
    with pytest.raises(UnreadableToken):
        ring.decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
    with pytest.raises(UnreadableToken):
        ring.decrypt("not a token")


def test_passwords_are_salted_argon2id_and_verify(ring: Keyring) -> None:
    first, second = ring.hash_password("04715529"), ring.hash_password("04715529")
    assert first.startswith("$argon2id$") and first != second
    assert "04715529" not in first
    assert ring.verify_password(first, "04715529")
    assert ring.verify_password(second, "04715529")
    assert not ring.verify_password(first, "04715528")


def test_password_hash_needs_the_deployment_secret(ring: Keyring) -> None:
    """The pepper: a stolen database alone cannot test guesses at 8-digit passwords."""
    hashed = ring.hash_password("12345678")
    assert not Keyring(SECRET + "-other", password_cost="fast").verify_password(hashed, "12345678")


@pytest.mark.parametrize("hashed", [None, "", "garbage", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_verify_never_raises_on_missing_or_damaged_hashes(ring: Keyring, hashed: str | None) -> None:
    assert ring.verify_password(hashed, "12345678") is False


def test_normal_cost_is_stronger_than_fast(ring: Keyring) -> None:
    normal = Keyring(SECRET)
    assert normal.password_needs_rehash(ring.hash_password("x"))
    assert not ring.password_needs_rehash(ring.hash_password("x"))


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        Keyring("short")


def test_repr_hides_the_secret(ring: Keyring) -> None:
    assert SECRET not in repr(ring)


def test_load_or_create_secret_creates_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret.key"
    created = load_or_create_secret(path)
    assert len(created) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == created
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary left behind
    Keyring(created)  # usable as is


def test_load_or_create_secret_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("abc\n")
    with pytest.raises(ValueError):
        load_or_create_secret(path)
