"""Every portal model imported in one place, so `Base.metadata` is complete (Alembic, tests)."""

from portal.accounts import models as accounts_models
from portal.customer import models as customer_models
from portal.db import Base
from portal.events import models as events_models
from portal.kb import models as kb_models
from portal.mail import models as mail_models
from portal.partner import models as partner_models
from portal.repairs import models as repairs_models
from portal.security import models as security_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "customer_models",
    "events_models",
    "kb_models",
    "mail_models",
    "metadata",
    "partner_models",
    "repairs_models",
    "security_models",
]
