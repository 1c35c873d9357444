"""quarantine watched lots: a lot that only 0019's keys made match its watch-list entry is quarantined

Revision ID: 0020_quarantine_watched_lots
Revises: 0019_lot_keys_without_spaces
Create Date: 2026-12-04

A watch-list entry added before 0019 with a spaced number (``XE 77812``) matched no lot, so lot ``XE77812`` in
stock was never quarantined. Since 0019 the keys match: every scan and receipt of that lot is refused, but the
lot stayed 'active', so no quarantine sign showed and the quarantine and recall views did not list its stock.
This revision does for each such lot what adding the entry does today (inventory/counterfeit/service.py
``_quarantine_watched``): every lot that is 'active' and matches a watch-list entry (same product and
number_key) becomes 'quarantined' with the reason "On the counterfeit watch list: <source>" at the time of the
upgrade, and two audit events record it, ``lot.quarantined`` (the recall change log) and
``lot.watch_quarantined`` (the safety lead's sign), with the same details and no actor (nobody acted: the
upgrade did). A lot already quarantined or recalled, and a lot of another product with the same number, are
left as they are.

Audit events are hash-chained and lots are sealed (inventory/services/audit_chain.py), so the rows written
here carry the hashes the app would have written: a frozen copy of encodings vialog-audit-v1 and
vialog-seal-v1 (as 0019 freezes its key), chained to the newest event under the app's advisory lock on
PostgreSQL; ``vialog verify`` checks out after the upgrade. A lot whose seal was already broken keeps its
stored seal, so verify still reports it: the upgrade never vouches for a row changed outside Vialog.

Downgrade leaves the lots quarantined and the audit events in place (the log is append-only): releasing a lot
is a safety lead's act, with its reason, once the entry is taken off the watch list.
"""
import datetime as dt
import hashlib
import json

from alembic import op
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0020_quarantine_watched_lots'
down_revision = '0019_lot_keys_without_spaces'
branch_labels = None
depends_on = None

GENESIS = '0' * 64
AUDIT_CHAIN_LOCK_KEY = 0x5649414C_41554454  # audit_chain.py: serialises the audit chain on PostgreSQL
REASON_PREFIX = 'On the counterfeit watch list: '
SEALED_LOT_FIELDS = ('product_id', 'number', 'number_key', 'expiry', 'expiry_raw', 'status', 'status_reason',
                     'status_changed_at')

_LOTS = sa.table(
    'lots',
    sa.column('id', sa.Integer()), sa.column('product_id', sa.Integer()), sa.column('number', sa.String()),
    sa.column('number_key', sa.String()), sa.column('expiry', sa.Date()), sa.column('expiry_raw', sa.String()),
    sa.column('status', sa.String()), sa.column('status_reason', sa.Text()),
    sa.column('status_changed_at', vt.UTCDateTime()), sa.column('row_seal', sa.String()),
)
_WATCHED = sa.table('watched_lots', sa.column('id', sa.Integer()), sa.column('product_id', sa.Integer()),
                    sa.column('number_key', sa.String()), sa.column('source', sa.String()))
_PRODUCTS = sa.table('products', sa.column('id', sa.Integer()), sa.column('name', sa.String()))
_CONTAINERS = sa.table('containers', sa.column('id', sa.Integer()), sa.column('lot_id', sa.Integer()),
                       sa.column('remaining', sa.Numeric()), sa.column('state', sa.String()))
_AUDIT_EVENTS = sa.table(
    'audit_events',
    sa.column('id', sa.Integer()), sa.column('at', vt.UTCDateTime()), sa.column('actor_id', sa.Integer()),
    sa.column('clinic_id', sa.Integer()), sa.column('action', sa.String()), sa.column('object_type', sa.String()),
    sa.column('object_id', sa.String()), sa.column('details', sa.JSON()),
    sa.column('prev_hash', sa.String()), sa.column('row_hash', sa.String()),
)


# --- frozen copy of inventory/services/audit_chain.py's encodings as of this revision ---------------


def _canonical(value):
    if value is None:
        return ''
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat(timespec='microseconds')
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)  # ints and text: the only other kinds these rows hold


def _canonical_json(value):
    stored = json.loads(json.dumps(value))
    return json.dumps(stored, sort_keys=True, separators=(',', ':'), ensure_ascii=True, allow_nan=False)


def _digest(parts):
    return hashlib.sha256(json.dumps(list(parts), separators=(',', ':'), ensure_ascii=True).encode('ascii')).hexdigest()


def _audit_hash(prev_hash, event):
    return _digest(['vialog-audit-v1', prev_hash, _canonical(event['at']), _canonical(event['actor_id']),
                    _canonical(event['clinic_id']), event['action'], event['object_type'], event['object_id'],
                    _canonical_json(event['details'])])


def _lot_seal(lot_id, values):
    return _digest(['vialog-seal-v1', 'lots', _canonical(lot_id), *(_canonical(values[f]) for f in SEALED_LOT_FIELDS)])


# --- the upgrade ---------------------------------------------------------------------------------


def upgrade():
    bind = op.get_bind()
    now = dt.datetime.now(dt.timezone.utc)
    matches = bind.execute(
        sa.select(_LOTS, _WATCHED.c.id.label('watched_lot_id'), _WATCHED.c.source, _PRODUCTS.c.name.label('product'))
        .join(_WATCHED, sa.and_(_WATCHED.c.product_id == _LOTS.c.product_id,
                                _WATCHED.c.number_key == _LOTS.c.number_key))
        .join(_PRODUCTS, _PRODUCTS.c.id == _LOTS.c.product_id)
        .where(_LOTS.c.status == 'active').order_by(_WATCHED.c.id)
    ).all()
    if not matches:
        return
    if bind.dialect.name == 'postgresql':  # as the app does before it chains an event (audit_chain._chain_events)
        bind.execute(sa.text('SELECT pg_advisory_xact_lock(:key)'), {'key': AUDIT_CHAIN_LOCK_KEY})
    prev = bind.execute(sa.select(_AUDIT_EVENTS.c.row_hash).order_by(_AUDIT_EVENTS.c.id.desc()).limit(1)).scalar()
    prev = prev or GENESIS
    for lot in matches:
        prev = _quarantine(bind, lot, now, prev)


def _quarantine(bind, lot, now, prev_hash):
    """Quarantines one matched lot as ``_quarantine_watched`` does; returns the audit chain's new head."""
    reason = f'{REASON_PREFIX}{lot.source}'[:2000]
    quarantined = dict(lot._mapping, status='quarantined', status_reason=reason, status_changed_at=now)
    seal_held = lot.row_seal is not None and lot.row_seal == _lot_seal(lot.id, lot._mapping)
    bind.execute(_LOTS.update().where(_LOTS.c.id == lot.id).values(
        status='quarantined', status_reason=reason, status_changed_at=now,
        row_seal=_lot_seal(lot.id, quarantined) if seal_held else lot.row_seal,
    ))
    # Stock on the road counts: it is the stock the safety lead has to chase (it reads 0 while in transit).
    on_the_road = _CONTAINERS.c.state == 'in_transit'
    held, travelling = bind.execute(
        sa.select(sa.func.count(_CONTAINERS.c.id).filter(sa.or_(_CONTAINERS.c.remaining > 0, on_the_road)),
                  sa.func.count(_CONTAINERS.c.id).filter(on_the_road))
        .where(_CONTAINERS.c.lot_id == lot.id)
    ).one()
    details = {'lot_id': lot.id, 'lot_number': lot.number, 'product': lot.product, 'from': 'active',
               'to': 'quarantined', 'reason': reason, 'watched_lot_id': lot.watched_lot_id,
               'containers_holding_stock': held, 'containers_in_transit': travelling}
    for action in ('lot.quarantined', 'lot.watch_quarantined'):
        event = {'at': now, 'actor_id': None, 'clinic_id': None, 'action': action, 'object_type': 'lot',
                 'object_id': str(lot.id), 'details': details}
        row_hash = _audit_hash(prev_hash, event)
        bind.execute(_AUDIT_EVENTS.insert().values(**event, prev_hash=prev_hash, row_hash=row_hash))
        prev_hash = row_hash
    return prev_hash


def downgrade():
    # The lots stay quarantined (a safety lead releases a lot, saying why) and the audit log is append-only.
    pass
