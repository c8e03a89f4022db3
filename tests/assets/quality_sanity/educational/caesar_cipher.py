"""The Caesar cipher: shift every letter a fixed number of places along the alphabet.

ord() turns a letter into a number and chr() turns it back; the modulo operator makes
'z' wrap around to 'a'. Decrypting is encrypting with the opposite shift.
"""


def shift_letter(letter, shift):
    if not letter.isalpha():
        return letter  # leave spaces and punctuation alone
    base = ord("A") if letter.isupper() else ord("a")
    return chr((ord(letter) - base + shift) % 26 + base)


def encrypt(message, shift):
    """Return message with each letter shifted by shift places."""
    return "".join(shift_letter(ch, shift) for ch in message)


def decrypt(message, shift):
    return encrypt(message, -shift)


secret = encrypt("Hello, World!", 3)
print(secret)  # Khoor, Zruog!
print(decrypt(secret, 3))  # Hello, World!
