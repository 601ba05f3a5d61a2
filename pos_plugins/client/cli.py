"""``loyalty-pos``: send a receipt file, show the queue, flush it, from a shell.

Configuration from flags or the environment: ``--url``/``LOYALTY_URL``,
``--api-key``/``LOYALTY_API_KEY``, ``--signing-secret``/``LOYALTY_SIGNING_SECRET``,
``--queue``/``LOYALTY_QUEUE`` (default ``loyalty-pos-queue.db`` in the current folder).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from pos_plugins.client.client import TillClient
from pos_plugins.client.errors import ApiError, LoyaltyClientError, StaleRequest

EXIT_OK, EXIT_REJECTED, EXIT_PENDING, EXIT_USAGE = 0, 1, 3, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty-pos", description="The till's loyalty client.")
    parser.add_argument(
        "--url", default=os.environ.get("LOYALTY_URL"), help="the service, e.g. https://loyalty.example"
    )
    parser.add_argument("--api-key", default=os.environ.get("LOYALTY_API_KEY"), help="the terminal's key")
    parser.add_argument("--signing-secret", default=os.environ.get("LOYALTY_SIGNING_SECRET"))
    parser.add_argument("--queue", default=os.environ.get("LOYALTY_QUEUE", "loyalty-pos-queue.db"))
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("LOYALTY_TIMEOUT", "10")))
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="queue a receipt (a purchase as JSON) and try to deliver it")
    send.add_argument("receipt", help="a JSON file with the purchase body (API.md, Purchases), or - for stdin")
    show = commands.add_parser("queue", help="list the queue")
    show.add_argument("--status", choices=["pending", "delivered", "rejected"])
    show.add_argument("--limit", type=int, default=100)
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    flush = commands.add_parser("flush", help="deliver what is queued")
    flush.add_argument("--force", action="store_true", help="do not wait for the backoff to run out")
    requeue = commands.add_parser("requeue", help="send a rejected request again, in its place")
    requeue.add_argument("seq", type=int)
    return parser


def _time(value: float | None) -> str:
    return datetime.fromtimestamp(value).astimezone().isoformat(timespec="seconds") if value else "-"


def _send(client: TillClient, path: str) -> int:
    raw = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115 - short-lived
    body = json.loads(raw)
    member = body.get("member") or {}
    receipt = client.purchase(
        body["external_id"],
        total_minor=body["total_minor"],
        currency=body["currency"],
        items=body.get("items") or [],
        occurred_at=body.get("occurred_at"),
        **{key: member[key] for key in ("card_number", "member_id", "phone", "email") if key in member},
    )
    if receipt.points_pending_delivery:
        print(f"{receipt.external_id}: queued, points pending (the service could not be reached)")
        return EXIT_PENDING
    print(json.dumps(receipt.raw, indent=2))
    return EXIT_OK


def _queue(client: TillClient, args) -> int:
    rows = client.queue(status=args.status, limit=args.limit)
    if args.json:
        for row in rows:
            print(json.dumps(row.__dict__))
        return EXIT_OK
    counts = client.queue_counts()
    print(f"pending {counts['pending']}, delivered {counts['delivered']}, rejected {counts['rejected']}")
    for row in rows:
        detail = ""
        if row.status == "pending" and row.attempts:
            detail = f"attempts {row.attempts}, next {_time(row.next_attempt_at)}, last: {row.last_error}"
        elif row.status == "rejected":
            detail = f"{row.http_status or '-'} {row.reason}: {row.last_error}"
        elif row.status == "delivered":
            detail = f"delivered {_time(row.delivered_at)}"
        print(f"{row.seq:>8} {row.kind:<8} {row.external_id:<24} {row.status:<9} {detail}")
    return EXIT_OK


def _flush(client: TillClient, args) -> int:
    result = client.flush(force=args.force)
    print(f"delivered {result.delivered}, rejected {result.rejected}, pending {result.pending}")
    for row in result.rejections:
        print(f"rejected {row.kind} {row.external_id}: {row.http_status or '-'} {row.reason}: {row.last_error}")
    if result.error is not None:
        print(f"stopped: {result.error}; next attempt {_time(result.next_attempt_at)}", file=sys.stderr)
        if isinstance(result.error, StaleRequest):
            print("The till's clock is wrong: set it, then flush again.", file=sys.stderr)
    return EXIT_PENDING if result.pending else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "queue" and (not args.url or not args.api_key):
        print("loyalty-pos: set --url and --api-key (or LOYALTY_URL and LOYALTY_API_KEY)", file=sys.stderr)
        return EXIT_USAGE
    client = TillClient(args.url or "http://unset", args.api_key or "", args.signing_secret, args.queue, args.timeout)
    try:
        if args.command == "send":
            return _send(client, args.receipt)
        if args.command == "queue":
            return _queue(client, args)
        if args.command == "requeue":
            done = client.requeue(args.seq)
            print("requeued" if done else f"{args.seq} is not a rejected request")
            return EXIT_OK if done else EXIT_REJECTED
        return _flush(client, args)
    except ApiError as error:
        print(f"loyalty-pos: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except LoyaltyClientError as error:
        print(f"loyalty-pos: {error}", file=sys.stderr)
        return EXIT_REJECTED
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
