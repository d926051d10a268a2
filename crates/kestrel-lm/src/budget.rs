//! Budgets: `max_lm_calls`, `max_tokens` and `max_cost_usd` for any piece of
//! work — a compile, an evaluation, a whole script.
//!
//! A [`Budget`] is an explicit, cheap-to-clone handle (an `Arc`): clones
//! share one account. [`with_budget`] puts it in the current task's scope;
//! every LM call made inside (through any [`crate::SharedLm`], so by every
//! predictor, proposer, judge and nested optimizer or `Evaluate`) is charged
//! to it — and to every enclosing budget, so nested work draws from the
//! outer budget too. There is no global state: a budget applies only to the
//! futures run inside its scope.
//!
//! Accounting, per answered call:
//! - `max_lm_calls` counts every call answered, cache hits included (a
//!   resumed or repeated run stops at the same call, so it picks the same
//!   best program). It is reserved before the call is sent, so it is never
//!   overshot, even with many calls in flight; a call that fails gives its
//!   reservation back. A call dropped before it is answered (a cancelled
//!   candidate, a speculative run no longer needed) keeps it: its request
//!   may already be with the provider, which may bill it, so handing the
//!   slot to another call could send more requests than the limit. Only a
//!   call dropped while it still waits inside an [`crate::LmClient`]
//!   (for its rate limiter, or for another call fetching the same cache
//!   key), before its provider was called, gives its reservation back.
//! - `max_tokens` counts prompt + completion tokens paid for (a cache hit is
//!   free).
//! - `max_cost_usd` counts `LmResponse::cost_usd` (set by an
//!   [`crate::LmClient`] from its price table; a call whose price is unknown
//!   counts as free, as in [`crate::UsageReport`]).
//!
//! Tokens and cost are known only once a call returns: a call starts while
//! the amount spent is below the limit, so calls already in flight when it
//! is reached can overshoot it by their own usage (a dropped call's tokens
//! and cost are unknown and not charged).
//!
//! A call that would go over a budget is not sent: it fails at once with
//! [`LmError::BudgetExhausted`]. The budget remembers the first refusal
//! ([`Budget::exhausted`]) and wakes [`Budget::wait_exhausted`], so the
//! work that owns the budget (an optimizer, `Evaluate`) can stop cleanly and
//! return what it has.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::error::LmError;
use crate::request::LmResponse;

/// Which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// `max_lm_calls`: LM calls answered (cache hits included).
    LmCalls,
    /// `max_tokens`: prompt + completion tokens paid for.
    Tokens,
    /// `max_cost_usd`: US dollars paid for.
    CostUsd,
}

impl BudgetKind {
    /// The setting's name: `max_lm_calls`, `max_tokens`, `max_cost_usd`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::LmCalls => "max_lm_calls",
            BudgetKind::Tokens => "max_tokens",
            BudgetKind::CostUsd => "max_cost_usd",
        }
    }
}

impl fmt::Display for BudgetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A budget was reached: which one, its limit, and what had been spent
/// (in calls, tokens or dollars) when a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetExceeded {
    /// The budget.
    pub kind: BudgetKind,
    /// Its limit.
    pub limit: f64,
    /// What had been spent.
    pub spent: f64,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "budget {} = {} reached (spent {})", self.kind, self.limit, self.spent)
    }
}

/// The limits of a [`Budget`]; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetLimits {
    /// LM calls answered (cache hits included).
    pub max_lm_calls: Option<u64>,
    /// Prompt + completion tokens paid for.
    pub max_tokens: Option<u64>,
    /// US dollars paid for (calls whose price is unknown count as free).
    pub max_cost_usd: Option<f64>,
}

impl BudgetLimits {
    /// True when no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_lm_calls.is_none() && self.max_tokens.is_none() && self.max_cost_usd.is_none()
    }

    /// The first limit `spent` has reached, if any (`calls >= max_lm_calls`,
    /// then tokens, then cost).
    pub fn reached(&self, spent: &BudgetSpent) -> Option<BudgetExceeded> {
        if let Some(limit) = self.max_lm_calls.filter(|&l| spent.lm_calls >= l) {
            return Some(BudgetExceeded {
                kind: BudgetKind::LmCalls,
                limit: limit as f64,
                spent: spent.lm_calls as f64,
            });
        }
        if let Some(limit) = self.max_tokens.filter(|&l| spent.tokens >= l) {
            return Some(BudgetExceeded { kind: BudgetKind::Tokens, limit: limit as f64, spent: spent.tokens as f64 });
        }
        if let Some(limit) = self.max_cost_usd.filter(|&l| spent.cost_usd >= l) {
            return Some(BudgetExceeded { kind: BudgetKind::CostUsd, limit, spent: spent.cost_usd });
        }
        None
    }
}

/// What a budget has been charged so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetSpent {
    /// LM calls answered (cache hits included).
    pub lm_calls: u64,
    /// Prompt + completion tokens paid for.
    pub tokens: u64,
    /// US dollars paid for.
    pub cost_usd: f64,
}

#[derive(Debug, Default)]
struct Account {
    spent: BudgetSpent,
    /// Calls sent and not yet answered (reserved against `max_lm_calls`).
    in_flight: u64,
    /// The first refusal.
    exhausted: Option<BudgetExceeded>,
    /// Calls refused.
    refused: u64,
}

#[derive(Debug)]
struct Inner {
    limits: BudgetLimits,
    account: Mutex<Account>,
    exhausted: Notify,
}

/// A shared account of LM calls, tokens and dollars with limits. Clones
/// share the account. See the module docs for what is counted.
#[derive(Debug, Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

impl Budget {
    /// A budget with these limits. A negative or non-finite
    /// `max_cost_usd` is [`LmError::Config`].
    pub fn new(limits: BudgetLimits) -> Result<Budget, LmError> {
        if let Some(usd) = limits.max_cost_usd.filter(|usd| !usd.is_finite() || *usd < 0.0) {
            return Err(LmError::Config(format!("max_cost_usd must be a finite number >= 0, got {usd}")));
        }
        let inner = Inner { limits, account: Mutex::default(), exhausted: Notify::new() };
        Ok(Budget { inner: Arc::new(inner) })
    }

    /// A budget of at most `n` LM calls.
    pub fn lm_calls(n: u64) -> Budget {
        Budget::unchecked(BudgetLimits { max_lm_calls: Some(n), ..BudgetLimits::default() })
    }

    /// A budget of at most `n` tokens.
    pub fn tokens(n: u64) -> Budget {
        Budget::unchecked(BudgetLimits { max_tokens: Some(n), ..BudgetLimits::default() })
    }

    /// A budget of at most `usd` dollars ([`LmError::Config`] if negative or
    /// not finite).
    pub fn cost_usd(usd: f64) -> Result<Budget, LmError> {
        Budget::new(BudgetLimits { max_cost_usd: Some(usd), ..BudgetLimits::default() })
    }

    fn unchecked(limits: BudgetLimits) -> Budget {
        let inner = Inner { limits, account: Mutex::default(), exhausted: Notify::new() };
        Budget { inner: Arc::new(inner) }
    }

    /// The limits.
    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    /// What has been charged so far.
    pub fn spent(&self) -> BudgetSpent {
        self.account().spent
    }

    /// Calls refused so far.
    pub fn refused_calls(&self) -> u64 {
        self.account().refused
    }

    /// The first limit the amount spent has reached, if any (a budget can
    /// be reached without having refused anything yet).
    pub fn reached(&self) -> Option<BudgetExceeded> {
        self.inner.limits.reached(&self.spent())
    }

    /// Why the first call was refused, if one was: from then on the work
    /// under this budget is incomplete.
    pub fn exhausted(&self) -> Option<BudgetExceeded> {
        self.account().exhausted
    }

    /// Resolves when a call is refused (at once if one already was).
    pub async fn wait_exhausted(&self) -> BudgetExceeded {
        loop {
            let notified = self.inner.exhausted.notified();
            if let Some(why) = self.exhausted() {
                return why;
            }
            notified.await;
        }
    }

    /// True when both handles share one account.
    pub fn same_as(&self, other: &Budget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    fn account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.inner.account.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserve one call, or refuse it (and remember the refusal).
    fn try_start(&self) -> Result<(), BudgetExceeded> {
        let limits = &self.inner.limits;
        let mut account = self.account();
        // Once a call has been refused, every later one is too: the work
        // under the budget stops at one point, even if calls in flight
        // then fail and give their reservations back.
        if let Some(why) = account.exhausted {
            account.refused = account.refused.saturating_add(1);
            return Err(why);
        }
        let mut projected = account.spent;
        projected.lm_calls = projected.lm_calls.saturating_add(account.in_flight);
        if let Some(why) = limits.reached(&projected) {
            // Report what was actually spent, not the reservations.
            let why = BudgetExceeded {
                spent: if why.kind == BudgetKind::LmCalls { projected.lm_calls as f64 } else { why.spent },
                ..why
            };
            account.refused = account.refused.saturating_add(1);
            let first = account.exhausted.is_none();
            if first {
                account.exhausted = Some(why);
            }
            drop(account);
            if first {
                tracing::info!(target: "kestrel_lm::budget", "{why}: refusing further LM calls under this budget");
            }
            self.inner.exhausted.notify_waiters();
            return Err(why);
        }
        account.in_flight = account.in_flight.saturating_add(1);
        Ok(())
    }

    /// Settle a reserved call: charge an answer, keep the reservation of a
    /// call that may have been sent, or give it back.
    fn finish(&self, settled: Settled) {
        let mut account = self.account();
        account.in_flight = account.in_flight.saturating_sub(1);
        let spent = &mut account.spent;
        match settled {
            Settled::Answered(charge) => {
                spent.lm_calls = spent.lm_calls.saturating_add(1);
                spent.tokens = spent.tokens.saturating_add(charge.tokens);
                spent.cost_usd += charge.cost_usd;
            }
            Settled::Abandoned => spent.lm_calls = spent.lm_calls.saturating_add(1),
            Settled::NotCharged => {}
        }
    }
}

/// How a reserved call ended.
#[derive(Debug, Clone, Copy)]
enum Settled {
    /// Answered: charged in full.
    Answered(Charge),
    /// Dropped after its request may have been sent: the call counts, its
    /// tokens and cost are unknown.
    Abandoned,
    /// Failed, or dropped before its request was sent: the reservation is
    /// given back.
    NotCharged,
}

/// How far a charged call has got, set by the layers below it: at first
/// nothing is said (the LM is a provider itself, so once the call runs its
/// request may be out); [`QUEUED`] while an [`crate::LmClient`] holds it and
/// has not called its provider; [`SENT`] once the provider below is called.
#[derive(Debug, Default)]
struct Reach(AtomicU8);

const QUEUED: u8 = 1;
const SENT: u8 = 2;

impl Reach {
    fn set(&self, reach: u8) {
        self.0.store(reach, Ordering::Relaxed);
    }

    /// What a drop before the answer costs.
    fn if_dropped(&self) -> Settled {
        if self.0.load(Ordering::Relaxed) == QUEUED { Settled::NotCharged } else { Settled::Abandoned }
    }
}

/// What one answered call costs.
#[derive(Debug, Clone, Copy)]
struct Charge {
    tokens: u64,
    cost_usd: f64,
}

impl Charge {
    fn of(response: &LmResponse) -> Charge {
        Charge {
            tokens: response.usage.prompt_tokens.saturating_add(response.usage.completion_tokens),
            cost_usd: response.cost_usd.filter(|c| c.is_finite() && *c > 0.0).unwrap_or(0.0),
        }
    }
}

tokio::task_local! {
    static BUDGETS: Vec<Budget>;
    /// Set while a charged call runs, so the LM layers below it (an LM
    /// client's provider) are not charged again; they record how far the
    /// call got.
    static CHARGING: Arc<Reach>;
}

/// Called by an [`crate::LmClient`] when it takes a call, before its cache,
/// rate limiter and provider: until the provider is called, dropping the
/// call gives its budget reservation back.
pub(crate) fn mark_queued() {
    let _ = CHARGING.try_with(|reach| reach.set(QUEUED));
}

/// Run `future` with `budget` charged for every LM call made inside it (and
/// every enclosing budget too). Scopes nest; the scope follows the future,
/// not the thread (a task spawned inside does not inherit it).
pub async fn with_budget<F: Future>(budget: &Budget, future: F) -> F::Output {
    let mut budgets = active_budgets();
    if !budgets.iter().any(|b| b.same_as(budget)) {
        budgets.push(budget.clone());
    }
    BUDGETS.scope(budgets, future).await
}

/// The budgets in scope for the current task, outermost first.
pub fn active_budgets() -> Vec<Budget> {
    BUDGETS.try_with(Clone::clone).unwrap_or_default()
}

/// Why a budget in scope refused a call, if one did (the outermost first).
pub fn exhausted_in_scope() -> Option<BudgetExceeded> {
    BUDGETS.try_with(|budgets| budgets.iter().find_map(Budget::exhausted)).ok().flatten()
}

/// Run one LM call, charged to every budget in scope: refused at once with
/// [`LmError::BudgetExhausted`] if any of them is spent.
pub(crate) async fn charged<F>(call: F) -> Result<LmResponse, LmError>
where
    F: Future<Output = Result<LmResponse, LmError>>,
{
    if CHARGING.try_with(|reach| reach.set(SENT)).is_ok() {
        return call.await;
    }
    let budgets = active_budgets();
    if budgets.is_empty() {
        return call.await;
    }
    for (i, budget) in budgets.iter().enumerate() {
        if let Err(why) = budget.try_start() {
            for started in &budgets[..i] {
                started.finish(Settled::NotCharged);
            }
            return Err(LmError::BudgetExhausted(why));
        }
    }
    let reach = Arc::new(Reach::default());
    let mut settle = Settle { budgets: &budgets, reach: Arc::clone(&reach), outcome: None };
    let outcome = CHARGING.scope(reach, call).await;
    settle.outcome = Some(outcome.as_ref().map_or(Settled::NotCharged, |r| Settled::Answered(Charge::of(r))));
    drop(settle);
    outcome
}

/// Settles the reservations even if the call is dropped midway (see the
/// module docs for what a dropped call costs).
struct Settle<'a> {
    budgets: &'a [Budget],
    reach: Arc<Reach>,
    /// How the call ended; `None` while it runs (so when it is dropped).
    outcome: Option<Settled>,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let settled = self.outcome.unwrap_or_else(|| self.reach.if_dropped());
        for budget in self.budgets {
            budget.finish(settled);
        }
    }
}
