"""SendGrid's signing, for crates/webhooks/tests/sendgrid_reference.rs.

Makes fresh P-256 keys with `cryptography`, signs payloads as SendGrid does (ECDSA SHA-256 over
timestamp + payload, the DER signature in base64), and asks SendGrid's own helper,
`sendgrid.helpers.eventwebhook.EventWebhook().verify_signature`, about each case.

stdin: {"keys": n,
        "sign": [{"key": i, "timestamp": t, "payload": p}, ...],
        "verify": [{"key": i | "public_key": base64 DER SubjectPublicKeyInfo,
                    "timestamp": t, "payload": p,
                    "signature": s | "signature_of": index into "sign"}, ...]}
stdout: {"public_keys": [base64 DER SubjectPublicKeyInfo, ...],   # as SendGrid shows its key
         "p384_public_key": base64 DER SubjectPublicKeyInfo of a P-384 key,
         "rsa_public_key": base64 DER SubjectPublicKeyInfo of an RSA key,
         "signatures": [base64 DER, ...],
         "verified": [bool, ...]}   # SendGrid's helper; a signature it cannot decode is false

Payloads and timestamps are text, as the helper takes them. No private key is printed.
"""

import base64
import binascii
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sendgrid.helpers.eventwebhook import EventWebhook


def spki_b64(public_key):
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def main():
    request = json.load(sys.stdin)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(request["keys"])]
    public_keys = [spki_b64(key.public_key()) for key in keys]

    signatures = []
    for case in request.get("sign", []):
        signed = (case["timestamp"] + case["payload"]).encode("utf-8")
        der = keys[case["key"]].sign(signed, ec.ECDSA(hashes.SHA256()))
        signatures.append(base64.b64encode(der).decode("ascii"))

    verified = []
    for case in request.get("verify", []):
        helper = EventWebhook()
        shown = case["public_key"] if "public_key" in case else public_keys[case["key"]]
        public_key = helper.convert_public_key_to_ecdsa(shown)
        try:
            signature = case["signature"] if "signature" in case else signatures[case["signature_of"]]
            ok = helper.verify_signature(case["payload"], signature, case["timestamp"], public_key)
        except (binascii.Error, ValueError):
            ok = False
        verified.append(bool(ok))

    json.dump(
        {
            "public_keys": public_keys,
            "p384_public_key": spki_b64(ec.generate_private_key(ec.SECP384R1()).public_key()),
            "rsa_public_key": spki_b64(
                rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
            ),
            "signatures": signatures,
            "verified": verified,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
