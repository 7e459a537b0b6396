//! Families whose tokens have no literal of their own (a UUID, a run of
//! hex): they count only after the vendor's name in an assigned name
//! (`HEROKU_API_KEY=`, `datadog-app-key:`), and start at LIKELY.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, Part, key};

/// A UUID in lower-case hex, as these vendors print them.
const UUID: &[Part] = &[
    Run(Hex, 8, 8),
    Lit("-"),
    Run(Hex, 4, 4),
    Lit("-"),
    Run(Hex, 4, 4),
    Lit("-"),
    Run(Hex, 4, 4),
    Lit("-"),
    Run(Hex, 12, 12),
];
const HEX32: &[Part] = &[Run(Hex, 32, 32)];
const HEX40: &[Part] = &[Run(Hex, 40, 40)];

pub const FAMILIES: &[Family] = &[
    key("heroku_legacy_api_key", "Heroku", UUID).named(&["heroku"]),
    key("datadog_api_key", "Datadog", HEX32).named(&["datadog", "dd"]),
    key("datadog_app_key", "Datadog", HEX40).named(&["datadog", "dd"]),
    key("okta_api_token", "Okta", &[Lit("00"), Run(Url64, 40, 40)]).named(&["okta"]),
    key("twilio_auth_token", "Twilio", HEX32).named(&["twilio"]),
    key("cloudflare_api_token", "Cloudflare", &[Run(Url64, 40, 40)])
        .named(&["cloudflare", "cf"])
        .check(Random),
    key(
        "cloudflare_global_api_key",
        "Cloudflare",
        &[Run(Hex, 37, 37)],
    )
    .named(&["cloudflare", "cf"]),
    key("fastly_api_token", "Fastly", &[Run(Url64, 32, 32)])
        .named(&["fastly"])
        .check(Random),
    key("linode_token", "Akamai", &[Run(Hex, 64, 64)]).named(&["linode"]),
    key("postmark_server_token", "Postmark", UUID).named(&["postmark"]),
    key("sparkpost_api_key", "SparkPost", HEX40).named(&["sparkpost"]),
    key("messagebird_api_key", "MessageBird", &[Run(Alnum, 25, 25)])
        .named(&["messagebird"])
        .check(Random),
    key("snyk_token", "Snyk", UUID).named(&["snyk"]),
    key("wandb_api_key", "Weights & Biases", HEX40).named(&["wandb"]),
    key(
        "asana_pat",
        "Asana",
        &[
            Run(Digit, 1, 1),
            Lit("/"),
            Run(Digit, 10, 20),
            Lit(":"),
            Run(Hex, 32, 32),
        ],
    )
    .named(&["asana"]),
    key(
        "discord_bot_token",
        "Discord",
        &[
            Run(Url64, 24, 28),
            Lit("."),
            Run(Url64, 6, 6),
            Lit("."),
            Run(Url64, 27, 38),
        ],
    )
    .named(&["discord"])
    .check(Random),
    key("algolia_admin_key", "Algolia", HEX32).named(&["algolia"]),
    key("zendesk_api_token", "Zendesk", &[Run(Alnum, 40, 40)])
        .named(&["zendesk"])
        .check(Random),
    key(
        "vault_legacy_token",
        "HashiCorp",
        &[Lit("s."), Run(Alnum, 24, 24)],
    )
    .named(&["vault"]),
    key("aws_secret_access_key", "AWS", &[Run(Base64, 40, 40)])
        .named(&["aws"])
        .check(Random),
    key("mailjet_api_key", "Mailjet", HEX32).named(&["mailjet", "mj"]),
    key("rollbar_access_token", "Rollbar", HEX32).named(&["rollbar"]),
    key("bugsnag_api_key", "Bugsnag", HEX32).named(&["bugsnag"]),
    key("codecov_token", "Codecov", UUID).named(&["codecov"]),
    key("vercel_token", "Vercel", &[Run(Alnum, 24, 24)])
        .named(&["vercel"])
        .check(Random),
    key("railway_token", "Railway", UUID).named(&["railway"]),
    key("plaid_secret", "Plaid", &[Run(Hex, 30, 30)]).named(&["plaid"]),
    key("pusher_secret", "Pusher", &[Run(Hex, 20, 20)]).named(&["pusher"]),
    key("github_legacy_token", "GitHub", HEX40).named(&["github", "gh"]),
    key(
        "mailgun_private_key",
        "Mailgun",
        &[
            Run(Hex, 32, 32),
            Lit("-"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 8, 8),
        ],
    )
    .named(&["mailgun"]),
    key("segment_write_key", "Segment", &[Run(Alnum, 32, 32)])
        .named(&["segment"])
        .check(Random),
    key("cohere_api_key", "Cohere", &[Run(Alnum, 40, 40)])
        .named(&["cohere"])
        .check(Random),
    key("mistral_api_key", "Mistral AI", &[Run(Alnum, 32, 32)])
        .named(&["mistral"])
        .check(Random),
    key("trello_api_key", "Atlassian", HEX32).named(&["trello"]),
    key("pagerduty_api_key", "PagerDuty", &[Run(Url64Pad, 20, 20)])
        .named(&["pagerduty", "pd"])
        .check(Random),
];
