//! Usage and cost. Galaxy ships a price table (per provider and model, input and output price per
//! million tokens, with the date it took effect); a workspace can override any entry. Costs are
//! integer micro-dollars, rounded up, with a `cost_source`: `provider_usage` (tokens reported by the
//! provider), `estimated` (tokens estimated by Galaxy), or `unpriced` (no price known — never $0).
//! Streamed runs are priced exactly like non-streamed ones: from the usage the provider reports.

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
    /// `shipped` or `workspace`.
    pub source: String,
}

/// How a cost was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    ProviderUsage,
    Estimated,
    Unpriced,
}

impl CostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::ProviderUsage => "provider_usage",
            CostSource::Estimated => "estimated",
            CostSource::Unpriced => "unpriced",
        }
    }
}

const fn usd(dollars_per_mtok_times_100: i64) -> i64 {
    // Prices are given in cents per million tokens to keep the table readable.
    dollars_per_mtok_times_100 * 10_000
}

/// (provider, model pattern, input ¢/Mtok, output ¢/Mtok, effective date)
const SHIPPED: &[(&str, &str, i64, i64, &str)] = &[
    ("openai", "gpt-4o-mini*", 15, 60, "2024-07-18"),
    ("openai", "gpt-4o*", 250, 1000, "2024-10-01"),
    ("openai", "gpt-4.1-nano*", 10, 40, "2025-04-14"),
    ("openai", "gpt-4.1-mini*", 40, 160, "2025-04-14"),
    ("openai", "gpt-4.1*", 200, 800, "2025-04-14"),
    ("openai", "o4-mini*", 110, 440, "2025-04-16"),
    ("openai", "o3*", 200, 800, "2025-06-10"),
    ("openai", "gpt-5-nano*", 5, 40, "2025-08-07"),
    ("openai", "gpt-5-mini*", 25, 200, "2025-08-07"),
    ("openai", "gpt-5*", 125, 1000, "2025-08-07"),
    ("anthropic", "claude-3-5-haiku*", 80, 400, "2024-11-04"),
    ("anthropic", "claude-haiku-4-5*", 100, 500, "2025-10-15"),
    ("anthropic", "claude-sonnet-4-5*", 300, 1500, "2025-09-29"),
    ("anthropic", "claude-sonnet-4*", 300, 1500, "2025-05-22"),
    ("anthropic", "claude-opus-4-1*", 1500, 7500, "2025-08-05"),
    ("anthropic", "claude-opus-4*", 1500, 7500, "2025-05-22"),
];

/// The shipped table.
pub fn shipped_prices() -> Vec<ModelPrice> {
    SHIPPED
        .iter()
        .map(|(p, m, i, o, d)| ModelPrice {
            provider: (*p).to_owned(),
            model: (*m).to_owned(),
            input_micros_per_mtok: usd(*i),
            output_micros_per_mtok: usd(*o),
            effective: (*d).to_owned(),
            source: "shipped".to_owned(),
        })
        .collect()
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
    let shipped = shipped_prices();
    match find_price(overrides, &shipped, provider, model) {
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

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use super::ModelPrice;
    use crate::db::Db;
    use crate::error::CoreError;

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
                source: "workspace".into(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(p: i64, c: i64) -> Usage {
        Usage {
            prompt_tokens: p,
            completion_tokens: c,
        }
    }

    #[test]
    fn snapshots_match_their_family_and_the_most_specific_wins() {
        let shipped = shipped_prices();
        let p = find_price(&[], &shipped, "openai", "gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(p.model, "gpt-4o-mini*");
        assert_eq!(
            find_price(&[], &shipped, "openai", "gpt-4o-2024-08-06")
                .unwrap()
                .model,
            "gpt-4o*"
        );
        assert_eq!(
            find_price(&[], &shipped, "openai", "gpt-4.1-mini")
                .unwrap()
                .model,
            "gpt-4.1-mini*"
        );
        assert_eq!(
            find_price(&[], &shipped, "anthropic", "claude-sonnet-4-5-20250929")
                .unwrap()
                .model,
            "claude-sonnet-4-5*"
        );
        assert!(find_price(&[], &shipped, "openai", "my-finetune").is_none());
        assert!(find_price(&[], &shipped, "openai_compatible", "gpt-4o-mini").is_none());
    }

    #[test]
    fn costs_are_exact_micro_dollars_rounded_up() {
        let shipped = shipped_prices();
        let mini = find_price(&[], &shipped, "openai", "gpt-4o-mini").unwrap();
        // 1M input at $0.15 and 1M output at $0.60.
        assert_eq!(cost_micros(usage(1_000_000, 1_000_000), mini), 750_000);
        // 12 input + 5 output tokens = 12·0.15 + 5·0.60 = 4.8 µ$ → 5.
        assert_eq!(cost_micros(usage(12, 5), mini), 5);
        assert_eq!(cost_micros(usage(0, 0), mini), 0);
    }

    #[test]
    fn unknown_models_are_unpriced_and_overrides_win() {
        assert_eq!(
            price_usage(&[], "openai", "unknown", usage(10, 10), true),
            (None, CostSource::Unpriced)
        );
        let over = vec![ModelPrice {
            provider: "openai_compatible".into(),
            model: "llama-3".into(),
            input_micros_per_mtok: 1_000_000,
            output_micros_per_mtok: 2_000_000,
            effective: "2026-01-01".into(),
            source: "workspace".into(),
        }];
        assert_eq!(
            price_usage(
                &over,
                "openai_compatible",
                "llama-3",
                usage(1000, 500),
                true
            ),
            (Some(2000), CostSource::ProviderUsage)
        );
        assert_eq!(
            price_usage(&[], "openai", "gpt-4o-mini", usage(1000, 0), false),
            (Some(150), CostSource::Estimated)
        );
    }
}
