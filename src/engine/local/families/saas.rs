//! Productivity, content and observability services.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    key(
        "linear_api_key",
        "Linear",
        &[Lit("lin_api_"), Run(Alnum, 40, 40)],
    ),
    key(
        "notion_integration_token",
        "Notion",
        &[Lit("ntn_"), Run(Alnum, 46, 46)],
    ),
    // Notion's older internal integration secrets: `secret_` is common in
    // code, so the rest must be 43 random base62.
    key(
        "notion_legacy_secret",
        "Notion",
        &[Lit("secret_"), Run(Alnum, 43, 43)],
    )
    .likely()
    .check(Random),
    key("figma_pat", "Figma", &[Lit("figd_"), Run(Url64, 38, 44)]),
    key(
        "airtable_pat",
        "Airtable",
        &[Lit("pat"), Run(Alnum, 14, 14), Lit("."), Run(Hex, 64, 64)],
    )
    .named(&["airtable"]),
    key(
        "hubspot_private_app_token",
        "HubSpot",
        &[
            Lit("pat-"),
            Run(LowerAlnum, 3, 4),
            Lit("-"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 12, 12),
        ],
    ),
    // Intercom tokens are base64 of `tok:…`.
    key(
        "intercom_access_token",
        "Intercom",
        &[Lit("dG9rOi"), Run(Base64, 40, 80)],
    )
    .likely()
    .check(Random),
    key(
        "contentful_pat",
        "Contentful",
        &[Lit("CFPAT-"), Run(Url64, 43, 43)],
    ),
    key(
        "typeform_pat",
        "Typeform",
        &[Lit("tfp_"), Run(Url64, 40, 64)],
    )
    .check(Random),
    key(
        "frameio_token",
        "Frame.io",
        &[Lit("fio-u-"), Run(Url64, 64, 64)],
    ),
    key(
        "mapbox_secret_token",
        "Mapbox",
        &[
            Lit("sk.eyJ"),
            Run(Url64, 50, 120),
            Lit("."),
            Run(Url64, 20, 30),
        ],
    ),
    key(
        "clickup_pat",
        "ClickUp",
        &[
            Lit("pk_"),
            Run(Digit, 6, 10),
            Lit("_"),
            Run(UpperAlnum, 32, 32),
        ],
    ),
    key(
        "adafruit_io_key",
        "Adafruit",
        &[Lit("aio_"), Run(Alnum, 28, 28)],
    ),
    key(
        "ubidots_token",
        "Ubidots",
        &[Lit("BBFF-"), Run(Alnum, 30, 30)],
    ),
    key(
        "cloudinary_url",
        "Cloudinary",
        &[
            Lit("cloudinary://"),
            Run(Digit, 10, 20),
            Lit(":"),
            Run(Url64, 20, 40),
            Lit("@"),
            Run(Slug, 1, 64),
        ],
    ),
    key(
        "dropbox_access_token",
        "Dropbox",
        &[Lit("sl."), Tail(Dotted, 130)],
    ),
    key(
        "grafana_service_account_token",
        "Grafana",
        &[Lit("glsa_"), Run(Alnum, 32, 32), Lit("_"), Run(Hex, 8, 8)],
    ),
    key(
        "grafana_cloud_token",
        "Grafana",
        &[Lit("glc_eyJ"), Tail(Url64Pad, 40)],
    ),
    // Grafana's older API keys: base64 of `{"k":"…`.
    key(
        "grafana_api_key",
        "Grafana",
        &[Lit("eyJrIjoi"), Run(Url64Pad, 40, 120)],
    )
    .likely(),
    key(
        "new_relic_user_key",
        "New Relic",
        &[Lit("NRAK-"), Run(UpperAlnum, 27, 27)],
    ),
    key(
        "new_relic_insert_key",
        "New Relic",
        &[Lit("NRII-"), Run(Url64, 32, 32)],
    ),
    key(
        "new_relic_query_key",
        "New Relic",
        &[Lit("NRIQ-"), Run(Url64, 32, 32)],
    ),
    key(
        "new_relic_license_key",
        "New Relic",
        &[Run(Hex, 36, 36), Lit("NRAL")],
    ),
    key(
        "dynatrace_api_token",
        "Dynatrace",
        &[
            Lit("dt0c01."),
            Run(UpperAlnum, 24, 24),
            Lit("."),
            Run(UpperAlnum, 64, 64),
        ],
    ),
    key(
        "dynatrace_platform_token",
        "Dynatrace",
        &[
            Lit("dt0s01."),
            Run(UpperAlnum, 24, 24),
            Lit("."),
            Run(UpperAlnum, 64, 64),
        ],
    ),
];
