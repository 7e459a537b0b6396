//! Cloud platforms and infrastructure: AWS, Google Cloud, Azure, the other
//! public clouds, hosting platforms and secret stores.

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    // AWS unique ids: AKIA long-term and ASIA temporary access key ids,
    // ABIA STS service bearer tokens, ACCA context-specific credentials.
    // The other prefixes (AIDA users, AROA roles, …) name things and are
    // not secrets, so they are left out.
    key(
        "aws_access_key_id",
        "AWS",
        &[Lit("AKIA"), Run(Upper32, 16, 16)],
    )
    .likely()
    .check(AwsDigit),
    key(
        "aws_temporary_access_key_id",
        "AWS",
        &[Lit("ASIA"), Run(Upper32, 16, 16)],
    )
    .likely()
    .check(AwsDigit),
    key(
        "aws_sts_bearer_token_id",
        "AWS",
        &[Lit("ABIA"), Run(Upper32, 16, 16)],
    )
    .likely()
    .check(AwsDigit),
    key(
        "aws_context_credential_id",
        "AWS",
        &[Lit("ACCA"), Run(Upper32, 16, 16)],
    )
    .likely()
    .check(AwsDigit),
    key(
        "google_api_key",
        "Google",
        &[Lit("AIza"), Run(Url64, 35, 35)],
    ),
    key(
        "google_oauth_client_secret",
        "Google",
        &[Lit("GOCSPX-"), Run(Url64, 28, 28)],
    ),
    key(
        "google_oauth_access_token",
        "Google",
        &[Lit("ya29."), Run(Url64, 30, 300)],
    )
    .likely()
    .check(Random),
    key(
        "firebase_cloud_messaging_server_key",
        "Google",
        &[Run(Url64, 11, 11), Lit(":APA91b"), Run(Url64, 120, 140)],
    ),
    key(
        "azure_storage_account_key",
        "Microsoft",
        &[Lit("AccountKey="), Run(Base64, 86, 86), Lit("==")],
    ),
    key(
        "azure_shared_access_key",
        "Microsoft",
        &[Lit("SharedAccessKey="), Run(Base64, 43, 43), Lit("=")],
    ),
    key(
        "azure_ad_client_secret",
        "Microsoft",
        &[Run(Azure, 4, 4), Lit("Q~"), Run(Azure, 34, 34)],
    )
    .likely()
    .check(Random),
    key(
        "alibaba_access_key_id",
        "Alibaba Cloud",
        &[Lit("LTAI"), Run(Alnum, 12, 20)],
    )
    .likely(),
    key(
        "tencent_secret_id",
        "Tencent Cloud",
        &[Lit("AKID"), Run(Alnum, 32, 32)],
    )
    .likely(),
    key(
        "yandex_api_key",
        "Yandex Cloud",
        &[Lit("AQVN"), Run(Url64, 35, 38)],
    )
    .likely(),
    key(
        "digitalocean_pat",
        "DigitalOcean",
        &[Lit("dop_v1_"), Run(Hex, 64, 64)],
    ),
    key(
        "digitalocean_oauth_token",
        "DigitalOcean",
        &[Lit("doo_v1_"), Run(Hex, 64, 64)],
    ),
    key(
        "digitalocean_refresh_token",
        "DigitalOcean",
        &[Lit("dor_v1_"), Run(Hex, 64, 64)],
    ),
    key(
        "heroku_api_key",
        "Heroku",
        &[Lit("HRKU-AA"), Run(Url64, 58, 58)],
    ),
    key(
        "fly_access_token",
        "Fly.io",
        &[Lit("fo1_"), Run(Url64, 43, 43)],
    ),
    key("fly_macaroon", "Fly.io", &[Lit("fm2_"), Tail(Base64, 64)]),
    key(
        "render_api_key",
        "Render",
        &[Lit("rnd_"), Run(Alnum, 32, 32)],
    ),
    key("netlify_pat", "Netlify", &[Lit("nfp_"), Run(Alnum, 36, 40)]),
    key(
        "cloudflare_origin_ca_key",
        "Cloudflare",
        &[Lit("v1.0-"), Run(Hex, 24, 24), Lit("-"), Run(Hex, 146, 146)],
    ),
    key(
        "scaleway_access_key",
        "Scaleway",
        &[Lit("SCW"), Run(UpperAlnum, 17, 17)],
    )
    .named(&["scaleway", "scw"]),
    key("supabase_pat", "Supabase", &[Lit("sbp_"), Run(Hex, 40, 40)]),
    key(
        "supabase_secret_key",
        "Supabase",
        &[Lit("sb_secret_"), Run(Url64, 31, 64)],
    )
    .likely(),
    key(
        "neon_api_key",
        "Neon",
        &[Lit("napi_"), Run(LowerAlnum, 64, 64)],
    ),
    key(
        "planetscale_token",
        "PlanetScale",
        &[Lit("pscale_tkn_"), Run(Url64, 32, 64)],
    ),
    key(
        "planetscale_password",
        "PlanetScale",
        &[Lit("pscale_pw_"), Run(Url64, 32, 64)],
    ),
    key(
        "planetscale_oauth_token",
        "PlanetScale",
        &[Lit("pscale_oauth_"), Run(Url64, 32, 64)],
    ),
    // Doppler's tokens share `dp.`, one search pattern for all four.
    key(
        "doppler_personal_token",
        "Doppler",
        &[Lit("dp.pt."), Run(Alnum, 40, 44)],
    ),
    key(
        "doppler_service_token",
        "Doppler",
        &[Lit("dp.st."), Run(Dotted, 40, 80)],
    )
    .check(Random),
    key(
        "doppler_cli_token",
        "Doppler",
        &[Lit("dp.ct."), Run(Alnum, 40, 44)],
    ),
    key(
        "doppler_service_account_token",
        "Doppler",
        &[Lit("dp.sa."), Run(Alnum, 40, 44)],
    ),
    key(
        "pulumi_access_token",
        "Pulumi",
        &[Lit("pul-"), Run(Hex, 40, 40)],
    ),
    key(
        "terraform_cloud_token",
        "HashiCorp",
        &[Run(Alnum, 14, 14), Lit(".atlasv1."), Run(Url64, 60, 70)],
    ),
    key(
        "vault_service_token",
        "HashiCorp",
        &[Lit("hvs."), Run(Url64, 24, 250)],
    )
    .check(Random),
    key(
        "vault_batch_token",
        "HashiCorp",
        &[Lit("hvb."), Run(Url64, 24, 250)],
    )
    .check(Random),
    key(
        "databricks_token",
        "Databricks",
        &[Lit("dapi"), Run(Hex, 32, 32), Opt("-2")],
    ),
    key(
        "onepassword_service_account_token",
        "1Password",
        &[Lit("ops_eyJ"), Tail(Url64Pad, 100)],
    ),
    key(
        "onepassword_secret_key",
        "1Password",
        &[
            Lit("A3-"),
            Run(UpperAlnum, 6, 6),
            Lit("-"),
            Run(UpperAlnum, 6, 6),
            Lit("-"),
            Run(UpperAlnum, 5, 5),
            Lit("-"),
            Run(UpperAlnum, 5, 5),
            Lit("-"),
            Run(UpperAlnum, 5, 5),
            Lit("-"),
            Run(UpperAlnum, 5, 5),
        ],
    )
    // As a word before `-`, `A3` would make every date's `2023-` a lookup.
    .named(&["1password", "onepassword", "op"]),
];
