"""Writes backend log lines with Python's own `logging`, in whatever zone TZ names.

The backend's format, `%(asctime)s - %(name)s - %(levelname)s - %(message)s`, carries no zone:
that is what msgops has to get right. Two modes:

  zoned_log.py now LOG            a start two minutes ago, then an announcement and a console
                                  code, stamped now
  zoned_log.py series LOG START STEP COUNT
                                  COUNT codes stamped START, START+STEP, ... (epoch seconds), as
                                  logging formats them in TZ's zone; prints the truth, one JSON
                                  object per code: {"code": ..., "epoch": ...}
"""
import json
import logging
import sys
import time

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def logger(path):
    time.tzset()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    log = logging.getLogger("services.otp_service")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log, handler


def main():
    mode, path = sys.argv[1], sys.argv[2]
    log, handler = logger(path)
    if mode == "now":
        # The backend started two minutes ago (a log's first minute attributes no recipient:
        # its requests may have been announced in the file before it).
        started = log.makeRecord(log.name, logging.INFO, __file__, 0,
                                 "AWS SNS initialized as PRIMARY SMS provider", None, None)
        started.created -= 120
        handler.emit(started)
        log.info("OTP created for phone: 4165550123")
        log.info("OTP Code: 482913")
        print(json.dumps({"code": "482913", "epoch": time.time()}))
    elif mode == "series":
        start, step, count = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
        for i in range(count):
            created = start + i * step
            record = log.makeRecord(log.name, logging.INFO, __file__, 0,
                                    "OTP created for phone: 41655%05d" % i, None, None)
            record.created, record.msecs = created, 0.0
            handler.emit(record)
            record = log.makeRecord(log.name, logging.INFO, __file__, 0,
                                    "OTP Code: %06d" % (100000 + i), None, None)
            record.created, record.msecs = created, 0.0
            handler.emit(record)
            print(json.dumps({"code": "%06d" % (100000 + i), "epoch": created}))
    handler.close()


if __name__ == "__main__":
    main()
