"""The content checks: phrase groups, look-alike scripts, invisible characters, styled text."""

from __future__ import annotations

from tocsin.mail.content import content_reasons


def checks(subject: str, name: str = "", text: str = "") -> dict[str, str]:
    return {r.check: r.detail for r in content_reasons(subject, name, text).reasons}


def test_phrase_groups_one_reason_each_with_the_phrases():
    found = checks(
        "Action required",
        "",
        "Verify your account now. Verify your account! Your account has been suspended.",
    )
    assert set(found) == {
        "content.urgency",
        "content.credential_request",
        "content.account_threat",
        "content.phishing_pitch",  # the composite of asking and pressing
    }
    assert found["content.credential_request"] == "'verify your account'"


def test_the_pitch_needs_both_the_ask_and_the_pressure():
    assert "content.phishing_pitch" not in checks("Verify your account", "", "")
    assert "content.phishing_pitch" not in checks("Urgent", "", "Account suspended")


def test_phrases_match_whole_words_only():
    assert checks("Rewarding work", "", "The prizewinning team") == {}


def test_mixed_scripts_are_caught_but_plain_foreign_text_is_not():
    # Cyrillic "о", "і", "е" inside Latin words
    found = checks("Соnfіrmаtіоn of your order")
    assert "content.mixed_script" in found
    assert "Соnfіrmаtіоn" in found["content.mixed_script"]
    assert "content.mixed_script" not in checks("Подтверждение заказа", "", "Ελληνικά κείμενα")


def test_invisible_and_combining_characters():
    assert "content.invisible_characters" in checks("Pay\u200bPal notice")
    assert "content.invisible_characters" in checks("Notice", "Goo\u0650gle Play")
    assert "content.invisible_characters" not in checks("Café menu", "Zoë")


def test_styled_letters():
    assert "content.styled_letters" in checks("𝗪𝗲𝗹𝗰𝗼𝗺𝗲 to Netflix")
    # NFKC folds them, so the phrase groups still read them
    assert "content.prize" in checks("𝗖𝗼𝗻𝗴𝗿𝗮𝘁𝘂𝗹𝗮𝘁𝗶𝗼𝗻𝘀")
