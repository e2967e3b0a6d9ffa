"""A scripted SNS signer for crates/webhooks/tests/sns_signatures.rs.

Makes a test CA and a leaf certificate it issues (and a second, unrelated key), then signs SNS
messages the way the SNS documentation describes it, independently of the Rust code under test:
the string to sign is every field of the list below that the message has, as "Key\\nvalue\\n", in
this order, and the signature is RSA PKCS#1 v1.5 with SHA-1 (SignatureVersion 1) or SHA-256
(SignatureVersion 2), base64.

    Notification:                          Message, MessageId, Subject, Timestamp, TopicArn, Type
    SubscriptionConfirmation / Unsubscribe: Message, MessageId, SubscribeURL, Timestamp, Token,
                                            TopicArn, Type

stdin: {"messages": [{"fields": {...}, "version": "1"|"2", "hash": "sha1"|"sha256" (default: the
        version's), "key": "leaf"|"other" (default leaf), "cert_url": "https://..."}]}
stdout: {"ca_pem": "...", "cert_pem": "...", "bodies": ["<JSON body>", ...]}
"""

import base64
import datetime
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOTIFICATION_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_KEYS = [
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
]


def name(common_name):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "msgops test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_certificates():
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("msgops test CA"))
        .issuer_name(name("msgops test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("sns.amazonaws.com"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ca, leaf, leaf_key, other_key


def string_to_sign(fields):
    keys = NOTIFICATION_KEYS if fields["Type"] == "Notification" else CONFIRMATION_KEYS
    return "".join(f"{k}\n{fields[k]}\n" for k in keys if k in fields)


def main():
    request = json.load(sys.stdin)
    ca, leaf, leaf_key, other_key = make_certificates()
    bodies = []
    for spec in request["messages"]:
        fields = dict(spec["fields"])
        version = spec["version"]
        hash_name = spec.get("hash") or ("sha1" if version == "1" else "sha256")
        algorithm = hashes.SHA1() if hash_name == "sha1" else hashes.SHA256()
        key = other_key if spec.get("key") == "other" else leaf_key
        signature = key.sign(
            string_to_sign(fields).encode("utf-8"), padding.PKCS1v15(), algorithm
        )
        fields["SignatureVersion"] = version
        fields["Signature"] = base64.b64encode(signature).decode("ascii")
        fields["SigningCertURL"] = spec["cert_url"]
        fields.setdefault(
            "UnsubscribeURL",
            "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        )
        bodies.append(json.dumps(fields, indent=2))
    json.dump(
        {
            "ca_pem": ca.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "cert_pem": leaf.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "bodies": bodies,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
