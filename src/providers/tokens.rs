//! A chat request's input tokens as admission counts them (rate limits and budget reservations):
//! with OpenAI's own tokenizer (`tiktoken-rs`: o200k for the GPT-4o, 4.1, 5 and o families,
//! cl100k for GPT-4 and 3.5) where the model is one of OpenAI's, plus the few tokens each message
//! adds around its text; for every other model (Anthropic's, an OpenAI-compatible endpoint's
//! own), one token per three ASCII characters — an overestimate for the tokenizers of Claude,
//! Llama and Mistral on prose (about 3.5–4 characters a token) — and one per UTF-8 byte of any
//! other character (byte-level tokenizers never need more), so a reservation errs high, not low.

use tiktoken_rs::CoreBPE;
use tiktoken_rs::tokenizer::{Tokenizer, get_tokenizer};

use super::{ChatRequest, ProviderKind};

/// What each message adds around its text (role and separators), as OpenAI documents it.
const PER_MESSAGE: i64 = 4;
/// What priming the reply adds.
const PER_REPLY: i64 = 3;
/// ASCII characters a token, for models without a tokenizer here.
const ASCII_PER_TOKEN: usize = 3;

/// The tokenizer of an OpenAI model, if it is one; loaded once, on first use.
fn tokenizer(provider: ProviderKind, model: &str) -> Option<&'static CoreBPE> {
    if provider == ProviderKind::Anthropic {
        return None;
    }
    match get_tokenizer(model)? {
        Tokenizer::O200kBase | Tokenizer::O200kHarmony => Some(tiktoken_rs::o200k_base_singleton()),
        Tokenizer::Cl100kBase => Some(tiktoken_rs::cl100k_base_singleton()),
        _ => None,
    }
}

/// Loads the tokenizers (a few hundred milliseconds of parsing), so the first run that needs one
/// does not wait for it: start-up calls this off the async workers.
pub fn warm() {
    let _ = tiktoken_rs::o200k_base_singleton();
    let _ = tiktoken_rs::cl100k_base_singleton();
}

/// Whether [`input_tokens`] counts `model` with its own tokenizer (else it estimates).
pub fn exact_for(provider: ProviderKind, model: &str) -> bool {
    tokenizer(provider, model).is_some()
}

fn count(bpe: Option<&CoreBPE>, text: &str) -> i64 {
    let n = match bpe {
        Some(bpe) => bpe.encode_ordinary(text).len(),
        None => {
            let ascii = text.bytes().filter(u8::is_ascii).count();
            ascii.div_ceil(ASCII_PER_TOKEN) + (text.len() - ascii)
        }
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The input tokens of `chat` sent to `provider`'s `model`: system prompt, earlier turns, the
/// user message and a structured-output schema.
pub fn input_tokens(provider: ProviderKind, model: &str, chat: &ChatRequest) -> i64 {
    let bpe = tokenizer(provider, model);
    let schema = chat
        .output_schema
        .as_ref()
        .map(|s| count(bpe, &s.to_string()))
        .unwrap_or(0);
    let messages = std::iter::once(chat.system.as_str())
        .chain(chat.history.iter().map(|t| t.text.as_str()))
        .chain(std::iter::once(chat.user.as_str()));
    messages.fold(PER_REPLY.saturating_add(schema), |sum, text| {
        sum.saturating_add(count(bpe, text))
            .saturating_add(PER_MESSAGE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(model: &str, system: &str, user: &str) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            system: system.into(),
            history: Vec::new(),
            user: user.into(),
            temperature: 0.0,
            max_tokens: 10,
            output_schema: None,
        }
    }

    #[test]
    fn openai_models_are_counted_by_their_tokenizer() {
        // "Hello world" is two tokens in both encodings; two messages add 4 each, the reply 3.
        for model in [
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-5",
            "o3-mini",
            "gpt-4",
            "gpt-3.5-turbo",
        ] {
            assert!(exact_for(ProviderKind::OpenAi, model), "{model}");
            assert_eq!(
                input_tokens(ProviderKind::OpenAi, model, &chat(model, "", "Hello world")),
                2 + 8 + 3,
                "{model}"
            );
        }
        // A long word is many tokens, not len/4 of them.
        let text = "antidisestablishmentarianism ".repeat(20);
        let exact = input_tokens(ProviderKind::OpenAi, "gpt-4o", &chat("gpt-4o", "", &text));
        assert!(exact > 60 && exact < text.len() as i64 / 2, "{exact}");
    }

    #[test]
    fn other_models_are_estimated_high() {
        for (provider, model) in [
            (ProviderKind::Anthropic, "claude-3-5-haiku-latest"),
            (ProviderKind::Anthropic, "gpt-4o"),
            (ProviderKind::OpenAiCompatible, "llama-3.1-8b"),
        ] {
            assert!(!exact_for(provider, model), "{model}");
            // 30 characters: 10 tokens, plus 2 × 4 around the messages and 3 for the reply.
            let c = chat(model, "You are kind.", "Tell me a story");
            assert_eq!(input_tokens(provider, model, &c), 5 + 5 + 8 + 3);
        }
        // Earlier turns and a schema count too.
        let mut c = chat("claude-x", "", "");
        c.history.push(super::super::Turn {
            speaker: super::super::Speaker::User,
            text: "abcdef".into(),
        });
        c.output_schema = Some(serde_json::json!({"type": "object"}));
        assert_eq!(
            input_tokens(ProviderKind::Anthropic, "claude-x", &c),
            3 + 6 + 2 + 3 * 4
        );
        // Other scripts and emoji: a token per UTF-8 byte, never fewer than a byte-level
        // tokenizer needs.
        let cjk = chat("claude-x", "", "你好世界🙂 ok");
        assert_eq!(
            input_tokens(ProviderKind::Anthropic, "claude-x", &cjk),
            (4 * 3 + 4) + 1 + 2 * 4 + 3
        );
    }
}
