"""moto's server, plus the SMS messages SNS "sent" in /moto-api/data.json.

moto keeps published SMS in `sns_backend.sms_messages`, which is not a model and so is missing
from /moto-api/data.json; the providers' tests read it back from there as
data["sns"]["SmsMessage"] = [{"message_id", "phone_number", "message"}, ...].

Usage: python moto_server.py -H 127.0.0.1 -p PORT   (the arguments of `python -m moto.server`)
"""

import json
import sys

from moto.moto_api._internal.responses import MotoAPIResponse
from moto.server import main

_model_data = MotoAPIResponse.model_data


def _model_data_with_sms(self, request, full_url, headers):
    status, response_headers, body = _model_data(self, request, full_url, headers)
    data = json.loads(body)
    from moto.sns.models import sns_backends

    sms = []
    for _account, regions in sns_backends.items():
        for _region, backend in regions.items():
            for message_id, (phone_number, message) in backend.sms_messages.items():
                sms.append(
                    {"message_id": message_id, "phone_number": phone_number, "message": message}
                )
    data.setdefault("sns", {})["SmsMessage"] = sms
    return status, response_headers, json.dumps(data)


MotoAPIResponse.model_data = _model_data_with_sms

if __name__ == "__main__":
    main(sys.argv[1:])
