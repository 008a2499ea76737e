"""`make bench`: measure the booking path and write docs/BENCHMARKS.md (``python scripts/bench``).

1. AWS calls per operation, counted through botocore's event hooks (``before-call``), by service
   and API name, on the real template deployed into in-process moto.
2. Read and write units of one booking when the user already has 10 or 10,000 appointments. moto
   reports a constant for ConsumedCapacity, so units are computed from DynamoDB's published sizing
   rules applied to the real items read and written (see ``capacity.capacity_units``). The same for
   bookings with participants and agendas; and the handler's CPU (replayed answers) for a booking and
   slot searches, up to 9 calendars holding 40 appointments a day over 31 days at a 5-minute step.
   Likewise pool bookings (``anyOf``) and pool slot searches, a hold and its confirmation, series, and
   the largest series one transaction holds (asked of the service; also written into docs/SCALING.md);
   and each message to a contact (``notifications``).
3. Cold import of each handler module from the extracted Lambda zip in a fresh process, median of RUNS,
   against bare ``import boto3``; and of the booking handler without the zip's bytecode, and which of
   the libraries only messages need its import loads.
4. The Lambda zip's size.
5. Booking throughput against `make run`'s HTTP API with 1, 8 and 32 concurrent clients: half book
   into overlapping slots of one user, half into disjoint slots; double bookings must be 0.
   These figures are bound by moto on this machine, not AWS figures.
6. `make run` with data: moto's memory and the booking latency after 100, 1,000 and 5,000 bookings,
   on one day and spread over a year; and the reminder firer's idle CPU and lateness with 1,100
   schedules.

The modules, by job: ``recording`` (counting calls, replaying answers), ``capacity`` (units from item
sizes), ``stack`` (the in-process stack), ``measurements`` (what is measured in process, and cold
imports), ``notifications`` (messages to people), ``load`` (against `make run`), ``report`` (tables, and
the prose in ``report.md.template``), ``scaling`` (the table it writes into docs/SCALING.md); ``config``
holds the knobs and ``__main__`` runs them in order.
"""
