"""GDPR erasure: the one place that knows every table holding something of a person.

The subscriber's own rows (subscriber, topics, consent history) go through the
subscriber state machine (subscriptions.services.erase); the packages that keep
something else of the person each forget it here, in the same transaction.
"""

import logging

from .addresses import ascii_address
from .auth.models import Editor
from .contact.services import forget_writer
from .delivery.services import forget_recipient
from .outbox.services import forget_person
from .subscriptions.models import Subscriber
from .subscriptions.services import erase
from .tracking.services import forget_reader

log = logging.getLogger(__name__)


def erase_person(subscriber: Subscriber, *, by: Editor | None = None) -> None:
    """Erase a subscriber everywhere; a keyed hash stays for suppression (not committed).

    Deliveries and the clicks per link keep their counts without the person; the
    person's own click and open rows, contact messages written from the address and every
    stored mail to or about the person (sent ones keep no bytes, but their hashes) are
    deleted.
    """
    subscriber_id = subscriber.id
    addresses = {subscriber.email, ascii_address(subscriber.email), subscriber.email_key}
    forget_recipient(subscriber_id)
    forget_reader(subscriber_id)
    forget_writer(addresses)
    for address in addresses:
        forget_person(address)
    erase(subscriber)
    log.info("subscriber %s erased by %s", subscriber_id, f"editor {by.id}" if by else "system")

