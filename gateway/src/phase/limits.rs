//! Phase 4, limits: how much, and in what order.
//!
//! - [`take`]: the client's TPS token bucket, then its quotas per minute/hour/day/month,
//!   then the product's quota on the key (see [`crate::access::usage`]); a refusal after the
//!   client's counts were taken gives them back. Given the time (wall and monotonic) and
//!   the context, the decision is the counters' alone;
//! - [`admit`]: the VIP admission gate (see [`crate::access::priority`]); the call holds its
//!   place in `ctx.admission` until it ends. When the gate refuses (full, or waited too long),
//!   the counts [`take`] took are given back.

use chrono::{DateTime, Utc};

use super::Ctx;
use crate::access::refusal::{Refusal, Refused};
use crate::access::table::{AccessTable, Grant};
use crate::access::{Access, Admission, Refund};

/// Counts the call against the client's and the product's limits (see the module doc).
/// `mono_ns`: the monotonic clock of the token buckets.
pub(crate) fn take(
    access: &Access,
    table: &AccessTable,
    now: DateTime<Utc>,
    mono_ns: u64,
    ctx: &mut Ctx,
) -> Result<(), Refused> {
    let Some(client) = &ctx.client else {
        return Ok(());
    };
    access.usage.take_client(client, now, mono_ns)?;
    let mut refund = Refund {
        client: client.clone(),
        product: None,
    };
    if let (Some(Grant::Product(product_id)), Some(key)) = (&ctx.grant, &ctx.key) {
        let quota = table
            .products
            .get(&**product_id)
            .map(|(_, p)| p.quota.clone())
            .unwrap_or_default();
        if let Err(r) = access
            .usage
            .take_product(&key.id, product_id, &quota, client.tz, now)
        {
            access.refund(refund);
            return Err(r.into());
        }
        refund.product = Some((key.id.clone(), product_id.clone(), quota));
    }
    ctx.refund = Some(refund);
    Ok(())
}

/// Waits for a place at the gate, by the client's priority (anonymous calls: 0).
pub(crate) async fn admit(access: &Access, ctx: &mut Ctx) -> Result<(), Refused> {
    let priority = ctx.client.as_ref().map_or(0, |c| c.spec.priority);
    match access.gate.admit(priority).await {
        Some(permit) => {
            ctx.admission = Some(Admission::new(permit));
            Ok(())
        }
        None => {
            if let Some(r) = ctx.refund.take() {
                access.refund(r);
            }
            Err(Refusal::Busy.into())
        }
    }
}
