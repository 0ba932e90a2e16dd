//! Usage and cost. Galaxy ships a price table (per provider and model, input and output price per
//! million tokens, with the date it took effect); a workspace can override any entry. Costs are
//! integer micro-dollars, rounded up, with a `cost_source`: `provider_usage` (tokens reported by the
//! provider), `estimated` (tokens estimated by Galaxy), or `unpriced` (no price known — never $0).
//! Streamed runs are priced exactly like non-streamed ones: from the usage the provider reports.
//!
//! The table also gives each model family's largest output (`max_tokens` an agent may ask for):
//! [`max_output_tokens`], with [`DEFAULT_MAX_OUTPUT_TOKENS`] for models it does not list.

use serde::{Deserialize, Serialize};

use crate::providers::Usage;

/// Identifies the shipped table a cost came from.
pub const PRICE_TABLE_VERSION: &str = "2025-11-01";

/// A price in micro-dollars per million tokens: `$0.15 / 1M tokens` is `150_000`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrice {
    pub provider: String,
    /// A model name, or a prefix ending in `*` (`claude-sonnet-4-5*` matches dated snapshots).
    pub model: String,
    pub input_micros_per_mtok: i64,
    pub output_micros_per_mtok: i64,
    /// `YYYY-MM-DD` the price took effect.
    pub effective: String,
    pub source: PriceSource,
}

crate::string_enum! {
    /// Where a price comes from.
    pub enum PriceSource("price source") {
        /// Galaxy's table.
        Shipped = "shipped",
        /// The workspace's override.
        Workspace = "workspace",
    }
}

crate::string_enum! {
    /// How a cost was obtained.
    pub enum CostSource("cost source") {
        /// Tokens reported by the provider.
        ProviderUsage = "provider_usage",
        /// Tokens estimated by Galaxy.
        Estimated = "estimated",
        /// No price known: never shown as $0.
        Unpriced = "unpriced",
    }
}

/// `$0.001234` from micro-dollars, or "unpriced".
pub fn format_cost(cost_micros: Option<i64>) -> String {
    match cost_micros {
        Some(m) => format!("${}.{:06}", m / 1_000_000, (m % 1_000_000).abs()),
        None => "unpriced".to_owned(),
    }
}

const fn usd(dollars_per_mtok_times_100: i64) -> i64 {
    // Prices are given in cents per million tokens to keep the table readable.
    dollars_per_mtok_times_100 * 10_000
}

/// (provider, model pattern, input ¢/Mtok, output ¢/Mtok, effective date, most output tokens)
/// — the output limits are the providers' documented maximum output per request.
const SHIPPED: &[(&str, &str, i64, i64, &str, i64)] = &[
    ("openai", "gpt-4o-mini*", 15, 60, "2024-07-18", 16_384),
    ("openai", "gpt-4o*", 250, 1000, "2024-10-01", 16_384),
    ("openai", "gpt-4.1-nano*", 10, 40, "2025-04-14", 32_768),
    ("openai", "gpt-4.1-mini*", 40, 160, "2025-04-14", 32_768),
    ("openai", "gpt-4.1*", 200, 800, "2025-04-14", 32_768),
    ("openai", "o4-mini*", 110, 440, "2025-04-16", 100_000),
    ("openai", "o3*", 200, 800, "2025-06-10", 100_000),
    ("openai", "gpt-5-nano*", 5, 40, "2025-08-07", 128_000),
    ("openai", "gpt-5-mini*", 25, 200, "2025-08-07", 128_000),
    ("openai", "gpt-5*", 125, 1000, "2025-08-07", 128_000),
    (
        "anthropic",
        "claude-3-5-haiku*",
        80,
        400,
        "2024-11-04",
        8_192,
    ),
    (
        "anthropic",
        "claude-haiku-4-5*",
        100,
        500,
        "2025-10-15",
        64_000,
    ),
    (
        "anthropic",
        "claude-sonnet-4-5*",
        300,
        1500,
        "2025-09-29",
        64_000,
    ),
    (
        "anthropic",
        "claude-sonnet-4*",
        300,
        1500,
        "2025-05-22",
        64_000,
    ),
    (
        "anthropic",
        "claude-opus-4-1*",
        1500,
        7500,
        "2025-08-05",
        32_000,
    ),
    (
        "anthropic",
        "claude-opus-4*",
        1500,
        7500,
        "2025-05-22",
        32_000,
    ),
];

/// The most output tokens an agent may ask of a model the table does not list (OpenAI-compatible
/// servers, new models): enough for long answers, far below what would make a single run's
/// reservation absurd.
pub const DEFAULT_MAX_OUTPUT_TOKENS: i64 = 32_768;

/// The shipped table.
pub fn shipped_prices() -> Vec<ModelPrice> {
    SHIPPED
        .iter()
        .map(|(p, m, i, o, d, _)| ModelPrice {
            provider: (*p).to_owned(),
            model: (*m).to_owned(),
            input_micros_per_mtok: usd(*i),
            output_micros_per_mtok: usd(*o),
            effective: (*d).to_owned(),
            source: PriceSource::Shipped,
        })
        .collect()
}

/// The shipped table, built once (every run is priced against it).
pub fn shipped_table() -> &'static [ModelPrice] {
    static TABLE: std::sync::OnceLock<Vec<ModelPrice>> = std::sync::OnceLock::new();
    TABLE.get_or_init(shipped_prices)
}

/// The most output tokens `model` of `provider` may be asked for: the table's limit for its
/// family (the most specific pattern wins), else [`DEFAULT_MAX_OUTPUT_TOKENS`].
pub fn max_output_tokens(provider: &str, model: &str) -> i64 {
    SHIPPED
        .iter()
        .filter(|(p, pattern, ..)| *p == provider && matches(pattern, model))
        .max_by_key(|(_, pattern, ..)| (!pattern.ends_with('*'), pattern.len()))
        .map_or(DEFAULT_MAX_OUTPUT_TOKENS, |row| row.5)
}

fn matches(pattern: &str, model: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => model.starts_with(prefix),
        None => pattern == model,
    }
}

/// The price for `provider`/`model`: workspace overrides first, then the shipped table; among
/// matches, an exact name beats a pattern and a longer pattern beats a shorter one.
/// OpenAI-compatible endpoints are priced only by workspace overrides (their models are theirs).
pub fn find_price<'a>(
    overrides: &'a [ModelPrice],
    shipped: &'a [ModelPrice],
    provider: &str,
    model: &str,
) -> Option<&'a ModelPrice> {
    let best = |table: &'a [ModelPrice]| {
        table
            .iter()
            .filter(|p| p.provider == provider && matches(&p.model, model))
            .max_by_key(|p| (!p.model.ends_with('*'), p.model.len()))
    };
    best(overrides).or_else(|| best(shipped))
}

/// Cost in micro-dollars of `usage` at `price`, rounded up.
pub fn cost_micros(usage: Usage, price: &ModelPrice) -> i64 {
    let cost =
        |tokens: i64, per_mtok: i64| -> i128 { i128::from(tokens.max(0)) * i128::from(per_mtok) };
    let total = cost(usage.prompt_tokens, price.input_micros_per_mtok)
        + cost(usage.completion_tokens, price.output_micros_per_mtok);
    i64::try_from((total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
}

/// The cost and its source for a run's usage.
pub fn price_usage(
    overrides: &[ModelPrice],
    provider: &str,
    model: &str,
    usage: Usage,
    reported_by_provider: bool,
) -> (Option<i64>, CostSource) {
    match find_price(overrides, shipped_table(), provider, model) {
        None => (None, CostSource::Unpriced),
        Some(price) => (
            Some(cost_micros(usage, price)),
            if reported_by_provider {
                CostSource::ProviderUsage
            } else {
                CostSource::Estimated
            },
        ),
    }
}

/// Parses a price typed as US dollars per million tokens (`"0.15"`) into micro-dollars per
/// million tokens (`150_000`). At most six decimals, from 0 to 10,000 dollars.
pub fn parse_usd_per_mtok(text: &str) -> Result<i64, String> {
    let t = text.trim().trim_start_matches('$');
    let bad = || "Enter dollars per million tokens, e.g. 0.15".to_owned();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 6
        || whole.len() > 5
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| bad())?;
    let micros = whole * 1_000_000 + frac;
    if micros > 10_000 * 1_000_000 {
        return Err("That is more than $10,000 per million tokens.".into());
    }
    Ok(micros)
}

/// Micro-dollars per million tokens as dollars (`150_000` → `"0.15"`).
pub fn format_usd_per_mtok(micros: i64) -> String {
    let s = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use super::{ModelPrice, PriceSource, parse_usd_per_mtok};
    use crate::db::Db;
    use crate::error::CoreError;
    use crate::providers::ProviderKind;
    use crate::validation::FieldError;
    use crate::workspaces::{Actor, require_admin};

    /// Sets (or replaces) the workspace's price for a provider's model (admins and owners). A
    /// model ending in `*` prices every model with that prefix.
    pub async fn set_price_override(
        db: &Db,
        actor: &Actor,
        provider: &str,
        model: &str,
        input_usd_per_mtok: &str,
        output_usd_per_mtok: &str,
    ) -> Result<ModelPrice, CoreError> {
        require_admin(actor)?;
        let mut errors = Vec::new();
        let kind = ProviderKind::parse_field(provider, &mut errors);
        let model = model.trim();
        if model.is_empty() || model.len() > 100 || model.chars().any(char::is_whitespace) {
            errors.push(FieldError::new(
                "model",
                "Enter a model name (no spaces), e.g. gpt-4o-mini or llama-3*.",
            ));
        }
        let input = parse_usd_per_mtok(input_usd_per_mtok)
            .map_err(|m| errors.push(FieldError::new("input_price", m)))
            .ok();
        let output = parse_usd_per_mtok(output_usd_per_mtok)
            .map_err(|m| errors.push(FieldError::new("output_price", m)))
            .ok();
        let (Some(kind), Some(input), Some(output)) = (kind, input, output) else {
            return Err(CoreError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(CoreError::Validation(errors));
        }
        let effective = crate::timefmt::format_utc(crate::db::now_ms())[..10].to_owned();
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO model_prices (workspace_id, provider, model, input_micros_per_mtok, \
             output_micros_per_mtok, effective) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (workspace_id, provider, model) DO UPDATE SET \
             input_micros_per_mtok = excluded.input_micros_per_mtok, \
             output_micros_per_mtok = excluded.output_micros_per_mtok, effective = excluded.effective",
        )
        .bind(&actor.workspace_id)
        .bind(kind.as_str())
        .bind(model)
        .bind(input)
        .bind(output)
        .bind(&effective)
        .execute(&mut *tx)
        .await?;
        crate::audit::record(
            &mut *tx,
            actor,
            "price.set",
            &format!("{}/{model}", kind.as_str()),
            &format!("{input}/{output}"),
        )
        .await?;
        crate::workspaces::bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        Ok(ModelPrice {
            provider: kind.as_str().to_owned(),
            model: model.to_owned(),
            input_micros_per_mtok: input,
            output_micros_per_mtok: output,
            effective,
            source: PriceSource::Workspace,
        })
    }

    /// Removes a workspace price (admins and owners); the shipped price applies again.
    pub async fn delete_price_override(
        db: &Db,
        actor: &Actor,
        provider: &str,
        model: &str,
    ) -> Result<(), CoreError> {
        require_admin(actor)?;
        let mut tx = db.pool().begin().await?;
        let done = sqlx::query(
            "DELETE FROM model_prices WHERE workspace_id = $1 AND provider = $2 AND model = $3",
        )
        .bind(&actor.workspace_id)
        .bind(provider)
        .bind(model)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(CoreError::NotFound);
        }
        crate::audit::record(
            &mut *tx,
            actor,
            "price.deleted",
            &format!("{provider}/{model}"),
            "",
        )
        .await?;
        crate::workspaces::bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A workspace's price overrides.
    pub async fn workspace_prices(
        db: &Db,
        workspace_id: &str,
    ) -> Result<Vec<ModelPrice>, CoreError> {
        let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
            "SELECT provider, model, input_micros_per_mtok, output_micros_per_mtok, effective \
             FROM model_prices WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_all(db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(provider, model, i, o, effective)| ModelPrice {
                provider,
                model,
                input_micros_per_mtok: i,
                output_micros_per_mtok: o,
                effective,
                source: PriceSource::Workspace,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
