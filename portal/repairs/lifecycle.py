"""The RMA status vocabulary of CRM_STORE.md, its order, and the moves staff may make.

Two writers change a unit's status: the portal (customers, the staff desk) and the CRM's own
tools (the repair centre). Whichever reports a *later* state wins and nothing moves back;
`rank` is that order. Side exits rank so that they end the case: a rejected or cancelled unit
stays so unless it is closed, whoever reports what afterwards.

`backend_adapter.crm_schema.RMA_STATUS_RANK` holds the same order for the CRM store's own
guard (the adapter never imports domain packages); a test asserts the two agree.
"""

from __future__ import annotations

import enum

from portal.i18n import N_


class RmaStatus(enum.StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    AWAITING_UNIT = "awaiting_unit"
    REPLACEMENT_SHIPPED = "replacement_shipped"
    CANCELLED = "cancelled"
    RECEIVED = "received"
    DIAGNOSING = "diagnosing"
    QUOTE_SENT = "quote_sent"
    QUOTE_ACCEPTED = "quote_accepted"
    QUOTE_DECLINED = "quote_declined"
    REPAIRING = "repairing"
    REPAIRED = "repaired"
    REPLACED = "replaced"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CLOSED = "closed"


S = RmaStatus

RANK: dict[RmaStatus, int] = {
    S.REQUESTED: 10,
    S.APPROVED: 20,
    S.AWAITING_UNIT: 30,
    S.REPLACEMENT_SHIPPED: 35,
    S.RECEIVED: 40,
    S.DIAGNOSING: 50,
    S.QUOTE_SENT: 60,
    S.QUOTE_ACCEPTED: 70,
    S.QUOTE_DECLINED: 70,
    S.REPAIRING: 80,
    S.REPAIRED: 90,
    S.REPLACED: 90,
    S.SHIPPED: 100,
    S.DELIVERED: 110,
    S.REJECTED: 115,
    S.CANCELLED: 115,
    S.CLOSED: 120,
}

TERMINAL = frozenset({S.REJECTED, S.CANCELLED, S.CLOSED})

# The moves the staff desk offers from each state (the customer's own moves: cancel before
# the unit is received, accept or decline a quote).
TRANSITIONS: dict[RmaStatus, tuple[RmaStatus, ...]] = {
    S.REQUESTED: (S.APPROVED, S.REJECTED, S.RECEIVED, S.CANCELLED),  # a parcel may arrive before approval
    S.APPROVED: (S.AWAITING_UNIT, S.REPLACEMENT_SHIPPED, S.RECEIVED, S.CANCELLED),
    S.AWAITING_UNIT: (S.RECEIVED, S.REPLACEMENT_SHIPPED, S.CANCELLED),
    S.REPLACEMENT_SHIPPED: (S.RECEIVED,),
    S.RECEIVED: (S.DIAGNOSING,),
    S.DIAGNOSING: (S.REPAIRING, S.QUOTE_SENT, S.REPLACED),
    S.QUOTE_SENT: (S.QUOTE_ACCEPTED, S.QUOTE_DECLINED),
    S.QUOTE_ACCEPTED: (S.REPAIRING,),
    S.QUOTE_DECLINED: (S.SHIPPED,),
    S.REPAIRING: (S.REPAIRED, S.REPLACED),
    S.REPAIRED: (S.SHIPPED,),
    S.REPLACED: (S.SHIPPED,),
    S.SHIPPED: (S.DELIVERED,),
    S.DELIVERED: (S.CLOSED,),
    S.REJECTED: (),
    S.CANCELLED: (),
    S.CLOSED: (),
}

# States in which a unit can be received at the desk (typed or scanned).
RECEIVABLE = frozenset({S.REQUESTED, S.APPROVED, S.AWAITING_UNIT, S.REPLACEMENT_SHIPPED})
CUSTOMER_CANCELLABLE = frozenset({S.REQUESTED, S.APPROVED, S.AWAITING_UNIT})

# Statuses a customer is told about by e-mail (every other move is internal bookkeeping).
NOTIFY = frozenset(
    {
        S.APPROVED, S.REJECTED, S.AWAITING_UNIT, S.REPLACEMENT_SHIPPED, S.CANCELLED, S.RECEIVED, S.DIAGNOSING,
        S.QUOTE_SENT, S.REPAIRING, S.REPAIRED, S.REPLACED, S.SHIPPED, S.DELIVERED, S.CLOSED,
    }
)  # fmt: skip

LABELS: dict[RmaStatus, str] = {
    S.REQUESTED: N_("Requested"),
    S.APPROVED: N_("Approved"),
    S.REJECTED: N_("Rejected"),
    S.AWAITING_UNIT: N_("Waiting for your unit"),
    S.REPLACEMENT_SHIPPED: N_("Replacement shipped"),
    S.CANCELLED: N_("Cancelled"),
    S.RECEIVED: N_("Received"),
    S.DIAGNOSING: N_("Diagnosing"),
    S.QUOTE_SENT: N_("Quote sent"),
    S.QUOTE_ACCEPTED: N_("Quote accepted"),
    S.QUOTE_DECLINED: N_("Quote declined"),
    S.REPAIRING: N_("Repairing"),
    S.REPAIRED: N_("Repaired"),
    S.REPLACED: N_("Replaced"),
    S.SHIPPED: N_("Shipped back"),
    S.DELIVERED: N_("Delivered"),
    S.CLOSED: N_("Closed"),
}

# The current step in plain words, and what happens next (the timeline page, the e-mails).
EXPLAIN: dict[RmaStatus, tuple[str, str]] = {
    S.REQUESTED: (
        N_("We have your request and are checking it."),
        N_("We usually approve a request within one working day. You will get an e-mail."),
    ),
    S.APPROVED: (
        N_("Your request is approved."),
        N_("Pack the unit as described on the return label page and send it to us."),
    ),
    S.REJECTED: (
        N_("We cannot accept this repair request."),
        N_("The note below says why. Reply to your confirmation e-mail if you disagree."),
    ),
    S.AWAITING_UNIT: (
        N_("We are waiting for your unit to arrive."),
        N_("When it arrives we check it and tell you. Print the return label if you have not yet."),
    ),
    S.REPLACEMENT_SHIPPED: (
        N_("A replacement unit is on its way to you."),
        N_("Please send the faulty unit back to us with the return label."),
    ),
    S.CANCELLED: (N_("This repair was cancelled."), N_("Nothing more will happen. You can request a new repair at any time.")),
    S.RECEIVED: (N_("Your unit has arrived at our repair centre."), N_("A technician will diagnose it next.")),
    S.DIAGNOSING: (
        N_("A technician is finding out what is wrong."),
        N_("Next we repair or replace it. If the repair is not covered, we send you a quote first."),
    ),
    S.QUOTE_SENT: (
        N_("The repair is not covered by the warranty; we sent you a quote."),
        N_("Accept or decline the quote on this page. We wait for your answer before we go on."),
    ),
    S.QUOTE_ACCEPTED: (N_("You accepted the quote."), N_("We start the repair.")),
    S.QUOTE_DECLINED: (N_("You declined the quote."), N_("We send the unit back to you unrepaired.")),
    S.REPAIRING: (N_("Your unit is being repaired."), N_("When it passes our tests we ship it back to you.")),
    S.REPAIRED: (N_("Your unit is repaired and passed our tests."), N_("We ship it back to you next.")),
    S.REPLACED: (N_("We are replacing your unit with a new one."), N_("We ship the replacement to you next.")),
    S.SHIPPED: (N_("Your unit is on its way back to you."), N_("Tell us if it has not arrived within a week.")),
    S.DELIVERED: (N_("Your unit has been delivered."), N_("Check that it works. We close the case after that.")),
    S.CLOSED: (N_("This repair is closed."), N_("If the problem comes back, request a new repair.")),
}


def rank(status: RmaStatus | str) -> int:
    return RANK[RmaStatus(status)]


def later(current: RmaStatus, reported: RmaStatus) -> bool:
    """Does `reported` move a unit that is at `current` forward? (Equal ranks keep the first.)"""
    return RANK[reported] > RANK[current]


def can_move(current: RmaStatus, to: RmaStatus) -> bool:
    return to in TRANSITIONS[current]
