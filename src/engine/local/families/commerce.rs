//! Payments, commerce and shipping. Publishable keys (`pk_live_`) are
//! meant to be public and are not families.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    key(
        "stripe_secret_key",
        "Stripe",
        &[Lit("sk_live_"), Run(Alnum, 20, 247)],
    ),
    key(
        "stripe_restricted_key",
        "Stripe",
        &[Lit("rk_live_"), Run(Alnum, 20, 247)],
    ),
    key(
        "stripe_test_secret_key",
        "Stripe",
        &[Lit("sk_test_"), Run(Alnum, 20, 247)],
    )
    .likely(),
    key(
        "stripe_test_restricted_key",
        "Stripe",
        &[Lit("rk_test_"), Run(Alnum, 20, 247)],
    )
    .likely(),
    key(
        "stripe_webhook_secret",
        "Stripe",
        &[Lit("whsec_"), Run(Alnum, 32, 64)],
    )
    .check(Random),
    // Shopify: a type prefix and 32 hex.
    key(
        "shopify_access_token",
        "Shopify",
        &[Lit("shpat_"), Run(Hex, 32, 32)],
    ),
    key(
        "shopify_custom_app_token",
        "Shopify",
        &[Lit("shpca_"), Run(Hex, 32, 32)],
    ),
    key(
        "shopify_private_app_token",
        "Shopify",
        &[Lit("shppa_"), Run(Hex, 32, 32)],
    ),
    key(
        "shopify_shared_secret",
        "Shopify",
        &[Lit("shpss_"), Run(Hex, 32, 32)],
    ),
    key(
        "square_access_token",
        "Square",
        &[Lit("EAAA"), Run(Url64, 60, 60)],
    )
    .check(Random),
    key(
        "square_legacy_access_token",
        "Square",
        &[Lit("sq0atp-"), Run(Url64, 22, 22)],
    ),
    key(
        "square_oauth_secret",
        "Square",
        &[Lit("sq0csp-"), Run(Url64, 43, 43)],
    ),
    key(
        "braintree_access_token",
        "PayPal",
        &[
            Lit("access_token$production$"),
            Run(Alnum, 16, 16),
            Lit("$"),
            Run(Hex, 32, 32),
        ],
    ),
    key(
        "flutterwave_secret_key",
        "Flutterwave",
        &[
            Lit("FLWSECK"),
            Opt("_TEST"),
            Lit("-"),
            Run(Hex, 32, 32),
            Lit("-X"),
        ],
    ),
    key(
        "gocardless_live_token",
        "GoCardless",
        &[Lit("live_"), Run(Url64, 40, 40)],
    )
    .likely()
    .check(Random),
    key(
        "mollie_live_api_key",
        "Mollie",
        &[Lit("live_"), Run(Alnum, 30, 30)],
    )
    .likely()
    .check(Random),
    key("lob_live_api_key", "Lob", &[Lit("live_"), Run(Hex, 35, 35)]).likely(),
    key(
        "shippo_live_token",
        "Shippo",
        &[Lit("shippo_live_"), Run(Hex, 40, 40)],
    ),
    key(
        "shippo_test_token",
        "Shippo",
        &[Lit("shippo_test_"), Run(Hex, 40, 40)],
    ),
    key(
        "easypost_api_key",
        "EasyPost",
        &[Lit("EZAK"), Run(Alnum, 54, 54)],
    )
    .check(Random),
    key(
        "duffel_live_token",
        "Duffel",
        &[Lit("duffel_live_"), Run(Url64, 43, 43)],
    ),
    key(
        "duffel_test_token",
        "Duffel",
        &[Lit("duffel_test_"), Run(Url64, 43, 43)],
    ),
    key(
        "woocommerce_consumer_key",
        "WooCommerce",
        &[Lit("ck_"), Run(Hex, 40, 40)],
    ),
    key(
        "woocommerce_consumer_secret",
        "WooCommerce",
        &[Lit("cs_"), Run(Hex, 40, 40)],
    ),
];
