//! Chat, social and e-mail: Slack, Discord, Telegram, Microsoft Teams,
//! Meta, X, Twitch, and the mail-sending services.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    key(
        "slack_bot_token",
        "Slack",
        &[
            Lit("xoxb-"),
            Run(Digit, 8, 16),
            Lit("-"),
            Run(Digit, 8, 16),
            Lit("-"),
            Run(Alnum, 24, 32),
        ],
    ),
    key(
        "slack_user_token",
        "Slack",
        &[
            Lit("xoxp-"),
            Run(Digit, 8, 16),
            Lit("-"),
            Run(Digit, 8, 16),
            Lit("-"),
            Run(Digit, 8, 16),
            Lit("-"),
            Run(Hex, 32, 32),
        ],
    ),
    key(
        "slack_app_token",
        "Slack",
        &[
            Lit("xapp-1-"),
            Run(UpperAlnum, 9, 12),
            Lit("-"),
            Run(Digit, 10, 14),
            Lit("-"),
            Run(Hex, 64, 64),
        ],
    ),
    // Token rotation: `xoxe.xoxp-1-` / `xoxe.xoxb-1-` access tokens and
    // `xoxe-1-` refresh tokens.
    key(
        "slack_rotating_user_token",
        "Slack",
        &[Lit("xoxe.xoxp-1-"), Run(Alnum, 140, 170)],
    )
    .hooks(&["xoxe."]),
    key(
        "slack_rotating_bot_token",
        "Slack",
        &[Lit("xoxe.xoxb-1-"), Run(Alnum, 140, 170)],
    )
    .hooks(&["xoxe."]),
    key(
        "slack_refresh_token",
        "Slack",
        &[Lit("xoxe-1-"), Run(Alnum, 140, 170)],
    ),
    // Older token types: workspace apps, legacy and session tokens.
    key(
        "slack_workspace_token",
        "Slack",
        &[Lit("xoxa-2-"), Run(Url64, 30, 200)],
    )
    .check(Random),
    key(
        "slack_legacy_token",
        "Slack",
        &[Lit("xoxs-"), Run(Url64, 30, 200)],
    )
    .check(Random),
    key(
        "slack_webhook",
        "Slack",
        &[
            Opt("https://"),
            Lit("hooks.slack.com/services/"),
            Run(UpperAlnum, 8, 12),
            Lit("/"),
            Run(UpperAlnum, 8, 12),
            Lit("/"),
            Run(Alnum, 24, 24),
        ],
    )
    .hooks(&["hooks.slack.com/"]),
    key(
        "slack_workflow_webhook",
        "Slack",
        &[
            Opt("https://"),
            Lit("hooks.slack.com/triggers/"),
            Run(UpperAlnum, 8, 12),
            Lit("/"),
            Run(Digit, 8, 16),
            Lit("/"),
            Run(Hex, 32, 32),
        ],
    )
    .hooks(&["hooks.slack.com/"]),
    key(
        "discord_webhook",
        "Discord",
        &[
            Opt("https://"),
            Lit("discord.com/api/webhooks/"),
            Run(Digit, 17, 20),
            Lit("/"),
            Run(Url64, 60, 68),
        ],
    )
    .hooks(&["discord"]),
    key(
        "discord_legacy_webhook",
        "Discord",
        &[
            Opt("https://"),
            Lit("discordapp.com/api/webhooks/"),
            Run(Digit, 17, 20),
            Lit("/"),
            Run(Url64, 60, 68),
        ],
    )
    .hooks(&["discord"]),
    key(
        "telegram_bot_token",
        "Telegram",
        &[Run(Digit, 8, 10), Lit(":AA"), Run(Url64, 33, 33)],
    )
    .named(&["telegram", "tg", "bot"]),
    key(
        "teams_webhook",
        "Microsoft",
        &[
            Lit("webhook.office.com/webhookb2/"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 12, 12),
            Lit("@"),
            Run(Hex, 8, 8),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 4, 4),
            Lit("-"),
            Run(Hex, 12, 12),
            Lit("/IncomingWebhook/"),
            Run(Hex, 32, 32),
        ],
    ),
    key(
        "zapier_webhook",
        "Zapier",
        &[
            Opt("https://"),
            Lit("hooks.zapier.com/hooks/catch/"),
            Run(Digit, 5, 10),
            Lit("/"),
            Run(LowerAlnum, 5, 10),
        ],
    )
    .likely(),
    key(
        "twitch_oauth_token",
        "Twitch",
        &[Lit("oauth:"), Run(LowerAlnum, 30, 30)],
    )
    .check(Random),
    // X's app-only bearer tokens start with 21 `A`s (the encoded app id's
    // leading zero bytes), then URL-encoded base64.
    key(
        "twitter_bearer_token",
        "X",
        &[Lit("AAAAAAAAAAAAAAAAAAAAA"), Run(Percent, 60, 140)],
    )
    .check(Random)
    .named(&["twitter"]),
    key(
        "facebook_access_token",
        "Meta",
        &[Lit("EAA"), Run(Alnum, 90, 250)],
    )
    .check(Random)
    .named(&["facebook", "fb", "meta"]),
    key(
        "instagram_access_token",
        "Meta",
        &[Lit("IGQV"), Run(Url64, 100, 250)],
    )
    .likely()
    .check(Random),
    key(
        "sendgrid_api_key",
        "SendGrid",
        &[Lit("SG."), Run(Url64, 22, 22), Lit("."), Run(Url64, 43, 43)],
    ),
    // A Twilio API key's SID; its secret has no shape of its own.
    key("twilio_api_key", "Twilio", &[Lit("SK"), Run(Hex, 32, 32)]).likely(),
    key(
        "mailgun_api_key",
        "Mailgun",
        &[Lit("key-"), Run(Hex, 32, 32)],
    ),
    key(
        "mailchimp_api_key",
        "Mailchimp",
        &[Run(Hex, 32, 32), Lit("-us"), Run(Digit, 1, 2)],
    ),
    key(
        "brevo_api_key",
        "Brevo",
        &[
            Lit("xkeysib-"),
            Run(Hex, 64, 64),
            Lit("-"),
            Run(Alnum, 16, 16),
        ],
    ),
    key(
        "brevo_smtp_key",
        "Brevo",
        &[
            Lit("xsmtpsib-"),
            Run(Hex, 64, 64),
            Lit("-"),
            Run(Alnum, 16, 16),
        ],
    ),
];
