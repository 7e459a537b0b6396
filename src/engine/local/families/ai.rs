//! AI and machine-learning platforms.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    // OpenAI's keys have no fixed length or checksum; other vendors copied
    // `sk-`, so it starts at LIKELY unless it has OpenAI's marker.
    key(
        "openai_api_key",
        "OpenAI",
        &[
            Lit("sk-"),
            Opt("proj-"),
            Opt("svcacct-"),
            Opt("admin-"),
            Run(Url64, 32, 200),
        ],
    )
    .likely()
    .check(OpenAi),
    key(
        "anthropic_api_key",
        "Anthropic",
        &[Lit("sk-ant-api03-"), Run(Url64, 95, 95)],
    ),
    key(
        "anthropic_admin_key",
        "Anthropic",
        &[Lit("sk-ant-admin01-"), Run(Url64, 95, 95)],
    ),
    key(
        "openrouter_api_key",
        "OpenRouter",
        &[Lit("sk-or-v1-"), Run(Hex, 64, 64)],
    ),
    key(
        "huggingface_token",
        "Hugging Face",
        &[Lit("hf_"), Run(Alpha, 34, 34)],
    ),
    key(
        "huggingface_org_token",
        "Hugging Face",
        &[Lit("api_org_"), Run(Alpha, 34, 34)],
    ),
    key("groq_api_key", "Groq", &[Lit("gsk_"), Run(Alnum, 52, 52)]),
    key(
        "replicate_api_token",
        "Replicate",
        &[Lit("r8_"), Run(Alnum, 37, 37)],
    ),
    key(
        "perplexity_api_key",
        "Perplexity",
        &[Lit("pplx-"), Run(Alnum, 40, 56)],
    ),
    key("xai_api_key", "xAI", &[Lit("xai-"), Run(Alnum, 80, 80)]),
    key(
        "langsmith_pat",
        "LangChain",
        &[
            Lit("lsv2_pt_"),
            Run(Hex, 32, 32),
            Lit("_"),
            Run(Hex, 10, 10),
        ],
    ),
    key(
        "langsmith_service_key",
        "LangChain",
        &[
            Lit("lsv2_sk_"),
            Run(Hex, 32, 32),
            Lit("_"),
            Run(Hex, 10, 10),
        ],
    ),
    key(
        "pinecone_api_key",
        "Pinecone",
        &[Lit("pcsk_"), Run(Url64, 50, 90)],
    )
    .likely()
    .check(Random),
    key(
        "elevenlabs_api_key",
        "ElevenLabs",
        &[Lit("sk_"), Run(Hex, 48, 48)],
    )
    .likely(),
];
